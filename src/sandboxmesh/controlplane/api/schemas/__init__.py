"""Request and response bodies, one class per purpose (XCreate, XPublic, XList...)."""

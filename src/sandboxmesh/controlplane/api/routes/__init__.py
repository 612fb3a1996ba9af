"""API routes, one module per resource; thin: parse, authorize, call the repository."""

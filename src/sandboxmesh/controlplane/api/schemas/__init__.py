"""The API's own part of its bodies: the error responses every route documents (`base`).
The public bodies the API and the portal both show are built in `web.schemas`."""

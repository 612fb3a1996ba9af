"""The server's side of the public bodies, which the API returns and the portal renders: the
bodies themselves are `sandboxmesh.spec.api`'s (shared with the client) and re-exported
here; the functions that build one from stored records live here, since they need the
repository's records and the domain."""

"""The server's side of the API bodies: the bodies themselves are `sandboxmesh.spec.api`'s
(shared with the client) and re-exported here; the functions that build a public body from
stored records stay here, since they need the repository's records and the domain."""

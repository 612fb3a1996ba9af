"""The HTTP face of the control plane: dependencies, schemas, routes, error handling."""

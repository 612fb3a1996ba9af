"""The development wing: tools for working on and trying SandboxMesh, apart from the product.

`cluster` (a local Kubernetes: control plane processes, KWOK, a real node, the project's
images), `demo` (the whole system on one machine), `local_routing` (a route server and a real
Envoy in front of local processes, for tests and benchmarks), `processes` (the one way the
wing starts a child process, waits until it is ready and stops it), `commands` (the
`sandboxmesh dev ...` and `sandboxmesh demo` commands) and `pytest_plugin` (the tests'
cluster fixtures, loaded by the project's own tests/conftest.py).

No module of the product imports this package (an import-linter contract in pyproject.toml);
the CLI's app alone imports `commands`, to register them. Kept free of imports here, so that
importing one tool loads nothing of the others.
"""

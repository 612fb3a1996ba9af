"""The suite's root: the cluster fixtures (`kube_target`, `kube_client`, `namespace`, the real
node's) come from the development wing's plugin, loaded here rather than registered as an
installed pytest plugin, so that installing SandboxMesh adds nothing to anyone else's pytest.

pytest takes `pytest_plugins` only from a conftest it loads before collecting (this one: the
top of `testpaths`); nowhere deeper.
"""

pytest_plugins = ["sandboxmesh.dev.pytest_plugin"]

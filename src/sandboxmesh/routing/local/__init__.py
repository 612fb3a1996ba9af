"""Routing on one machine, for tests and benchmarks: a route server in a thread and a real
Envoy process (`envoy_process`) in front of local processes (`local_run`).

Development tooling: nothing else in `routing` imports it (the layers contract in
pyproject.toml puts it on top), so the in-cluster route server never loads it.
"""

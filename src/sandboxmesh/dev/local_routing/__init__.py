"""Routing on one machine, for tests and benchmarks: a route server in a thread and a real
Envoy process (`envoy_process`) in front of local processes (`local_run`).

Development tooling: it sits in the development wing, which no product module imports, so
the in-cluster route server never loads it.
"""

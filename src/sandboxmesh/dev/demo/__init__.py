"""`sandboxmesh demo`'s parts: a small app whose every hop says which version served it,
run as local processes behind real Envoy routing (test and demo infrastructure).

Modules: `app` (one JSON service; the program of the app's image, kept free of heavy imports
since every Pod's process starts it), `manifests` (the app's Deployments and Services, and the
demo's sandbox), `routed_app` (the app on a local node behind the route server and Envoy, as
the demo and the two-hop tests run it), `components` (the operator and agent processes),
`summary` (demo.json and what to try).
"""

"""The pure core of routing: data in, data out; no network, no Kubernetes client, no server.

- `table`: the route table, computed from Sandbox objects alone;
- `matching`: which requests carry a routing key (header rules shared by every renderer);
- `fronts`, `upstreams`: what an Envoy stands in front of, and how it reaches a fork;
- `envoy_resources`, `bootstrap`: what Envoy is told (its xDS resources and its bootstrap);
- `mesh`, `istio`, `gateway_api`: the same table as a service mesh's objects;
- `routers`: the router objects placed in front of an opted-in Service, and its stages.

An import-linter contract (pyproject.toml) keeps it from importing the xDS server, the
controllers, the Kubernetes layer or any client library.
"""

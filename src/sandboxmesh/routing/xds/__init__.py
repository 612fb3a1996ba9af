"""The route server's serving side: what routers and applications talk to.

- `service`: the ADS gRPC service, one state-of-the-world stream per Envoy;
- `stream`: the state of one ADS stream and what to send next (no I/O);
- `http_api`: /v1/routes, /v1/xds/nodes, health and metrics over HTTP.

It reads the route state (`routing.state`) and never the cluster: the controllers write it.
"""

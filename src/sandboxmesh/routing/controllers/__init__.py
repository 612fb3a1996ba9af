"""The Kubernetes side of routing: controllers that watch the cluster and write to it.

- `sandbox_watcher`: Sandbox objects -> the route table in `routing.state`;
- `mesh_applier`: the route table -> Istio VirtualServices and/or Gateway API HTTPRoutes;
- `router_placement`: routers put in front of opted-in Services and taken away again.

Each runs under the route server's supervisor; they follow the cluster through the shared
Kubernetes layer (`sandboxmesh.kube`).
"""

"""The one place that reads and writes the store.

Everything an API route may touch is reached through `OrgScope` (bound to the caller's
organisation) or `ClusterScope` (bound to an agent's cluster): every query they issue filters
by that tenant, so no route can forget it. The only unscoped entry points are token
authentication and bootstrapping an organisation.
"""

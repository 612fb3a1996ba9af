"""The portal: the control plane's web UI, served by the same ASGI app under `/portal`.

Server-rendered Jinja2 pages over the same repository layer as the API (every query scoped
to the signed-in member's organisation), htmx for the live parts, every asset served by the
app itself. `mount.install(app)` adds it; docs/portal.md describes it.
"""

"""Alembic environment: always runs on the connection `store.migrate` hands it."""

from __future__ import annotations

from alembic import context

from sandboxmesh.controlplane.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through sandboxmesh.controlplane.store.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

"""Creates sent to PostgreSQL in batches: each decided as one create at a time would be.

A batch's transaction runs here on real PostgreSQL, its outcomes checked against the quota
rule (`quota.decide`, unit-tested on its own) for counters the test set; the queue is driven
with an organisation row held locked by another transaction, which is how creates pile up
behind a running batch on a busy server.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
import sqlalchemy as sa
from tests.support import databases
from tests.support.controlplane import Org, manifest, register_cluster
from tests.support.eventually import eventually_async

from sandboxmesh.client import endpoints
from sandboxmesh.controlplane.domain import quota
from sandboxmesh.controlplane.domain import secrets as issued_secrets
from sandboxmesh.controlplane.repository import sandbox_creates, tokens
from sandboxmesh.controlplane.repository.create_queue import CreateQueue
from sandboxmesh.controlplane.repository.records import StoredSandbox
from sandboxmesh.controlplane.repository.sandbox_creates import Created, NewSandbox, Outcome
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store.tables import (
    clusters,
)
from sandboxmesh.spec import SandboxManifest

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_admin: str | None) -> Iterator[str]:
    """PostgreSQL only: SQLite runs every create under its one write lock, unbatched."""
    with databases.fresh_postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@dataclass
class Ids:
    org: int
    teams: dict[str, int]
    clusters: dict[str, int]


async def _ids(connection: asyncpg.Connection, org: str) -> Ids:
    org_id = await connection.fetchval("SELECT id FROM organizations WHERE name = $1", org)
    team_rows = await connection.fetch("SELECT id, name FROM teams WHERE org_id = $1", org_id)
    cluster_rows = await connection.fetch("SELECT id, name FROM clusters WHERE org_id = $1", org_id)
    return Ids(
        org=org_id,
        teams={row["name"]: row["id"] for row in team_rows},
        clusters={row["name"]: row["id"] for row in cluster_rows},
    )


def _new(
    runtime: Runtime,
    ids: Ids,
    name: str,
    *,
    team: str = "default",
    cluster: str = "staging",
    routing_key: str | None = None,
) -> NewSandbox:
    return NewSandbox(
        name=name,
        team_id=ids.teams[team],
        team_name=team,
        cluster_id=ids.clusters[cluster],
        spec={"cluster": cluster, "team": team, "labels": {"pr": name}},
        routing_key=routing_key or issued_secrets.routing_key(),
        actor="owner@acme.example",
        at=runtime.clock(),
        expires_at=None,
        labels={"pr": name},
        audit_details={"team": team, "cluster": cluster},
    )


def _named(outcome: Outcome | quota.Verdict) -> str:
    if isinstance(outcome, Created | quota.Accepted):
        return "created"
    return outcome.reason.value


@pytest.mark.parametrize("seed", range(24))
async def test_a_batch_decides_like_one_create_after_another(
    acme: Org, runtime: Runtime, connection: asyncpg.Connection, seed: int
) -> None:
    draw = random.Random(seed)
    for cluster in ("staging", "prod", "gone-cluster"):
        await register_cluster(acme, cluster)
    for team in ("blue", "gone-team"):
        await acme.client.send(endpoints.create_team(team))
    org_limit = draw.randrange(0, 9)
    team_limits: dict[str, int | None] = {
        "default": draw.choice([None, 0, 1, 2, 3, 5]),
        "blue": draw.choice([None, 0, 1, 2, 4]),
    }
    await acme.client.send(endpoints.set_organization_quota(org_limit))
    for team, limit in team_limits.items():
        await acme.client.send(endpoints.set_team_quota(team, limit))
    ids = await _ids(connection, "acme")
    await acme.client.send(endpoints.delete_cluster("gone-cluster"))
    await acme.client.send(endpoints.delete_team("gone-team"))
    revisions_before = await _revisions(connection, ids)

    def pick(live: list[str], gone: str) -> str:
        return gone if draw.random() < 0.1 else draw.choice(live)

    creates = [
        (pick(["default", "blue"], "gone-team"), pick(["staging", "prod"], "gone-cluster"))
        for _ in range(draw.randrange(1, 16))
    ]
    batch = [
        _new(runtime, ids, f"b{seed}-{n}", team=team, cluster=cluster)
        for n, (team, cluster) in enumerate(creates)
    ]
    outcomes = await sandbox_creates.commit_batch(connection, ids.org, batch)

    counters = quota.Counters(
        organization=quota.Count("acme", 0, org_limit),
        teams={ids.teams[team]: quota.Count(team, 0, most) for team, most in team_limits.items()},
        clusters=frozenset({ids.clusters["staging"], ids.clusters["prod"]}),
    )
    wanted = [quota.Wanted(new.team_id, new.cluster_id) for new in batch]
    expected = [_named(verdict) for verdict in quota.decide(counters, wanted)]
    assert [_named(outcome) for outcome in outcomes] == expected
    made = [(new, o) for new, o in zip(batch, outcomes, strict=True) if isinstance(o, Created)]
    # Each cluster's creates take its next revisions, in the order the creates came.
    for cluster in ("staging", "prod"):
        taken = [o.revision for new, o in made if new.cluster_id == ids.clusters[cluster]]
        before = revisions_before[cluster]
        assert taken == list(range(before + 1, before + 1 + len(taken)))
    assert await _revisions(connection, ids) == {
        cluster: before + sum(1 for new, _ in made if new.cluster_id == ids.clusters[cluster])
        for cluster, before in revisions_before.items()
    }
    # The rows, written in arrival order (ids follow it).
    rows = await connection.fetch("SELECT id, name, revision FROM sandboxes ORDER BY id")
    assert [(r["id"], r["name"], r["revision"]) for r in rows] == [
        (o.sandbox_id, new.name, o.revision) for new, o in made
    ]
    decided = list(zip(creates, expected, strict=True))
    counted = {
        team: sum(1 for (t, _), e in decided if t == team and e == "created")
        for team in team_limits
    }
    assert await _active(connection, ids) == (len(made), counted)
    # Each sandbox made has its label, its usage record and its audit event; nothing else.
    ids_made = [o.sandbox_id for _, o in made]
    labelled = await connection.fetch("SELECT sandbox_id FROM sandbox_labels")
    assert sorted(r["sandbox_id"] for r in labelled) == ids_made
    metered = await connection.fetch("SELECT sandbox_id FROM usage_records ORDER BY id")
    assert [r["sandbox_id"] for r in metered] == ids_made
    audited = await connection.fetch(
        "SELECT target FROM audit_events WHERE action = 'sandbox.create' ORDER BY id"
    )
    assert [r["target"] for r in audited] == [f"sandbox/{n.name}" for n, _ in made]


async def _revisions(connection: asyncpg.Connection, ids: Ids) -> dict[str, int]:
    rows = await connection.fetch("SELECT name, revision FROM clusters WHERE org_id = $1", ids.org)
    return {row["name"]: row["revision"] for row in rows}


async def _active(connection: asyncpg.Connection, ids: Ids) -> tuple[int, dict[str, int]]:
    org = await connection.fetchval(
        "SELECT active_sandboxes FROM organizations WHERE id = $1", ids.org
    )
    rows = await connection.fetch(
        "SELECT name, active_sandboxes FROM teams WHERE org_id = $1", ids.org
    )
    return org, {row["name"]: row["active_sandboxes"] for row in rows}


async def test_a_batch_notifies_the_last_revision_of_each_cluster(
    acme: Org, runtime: Runtime, connection: asyncpg.Connection, database_url: str
) -> None:
    await register_cluster(acme, "staging")
    await register_cluster(acme, "prod")
    ids = await _ids(connection, "acme")
    before = dict(
        await connection.fetch("SELECT id, revision FROM clusters WHERE org_id = $1", ids.org)
    )
    heard: list[str] = []
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener(
            "sandboxmesh_revisions", lambda *args: heard.append(str(args[-1]))
        )
        batch = [
            _new(runtime, ids, f"n-{n}", team="default", cluster=["staging", "prod"][n % 2])
            for n in range(5)
        ]
        outcomes = await sandbox_creates.commit_batch(connection, ids.org, batch)
        await eventually_async(
            lambda: _true(len(heard) == 2), timeout=10, what="a notification per cluster"
        )
    finally:
        await listener.close()
    revisions = [o.revision for o in outcomes if isinstance(o, Created)]
    staging, prod = ids.clusters["staging"], ids.clusters["prod"]
    assert revisions == [
        before[staging] + 1,
        before[prod] + 1,
        before[staging] + 2,
        before[prod] + 2,
        before[staging] + 3,
    ]
    last = {f"{staging}:{before[staging] + 3}", f"{prod}:{before[prod] + 2}"}
    assert set(heard) == last


async def _true(value: bool) -> bool:
    return value


@dataclass
class Blocked:
    """A create queue whose first create waits for the organisation's row, locked by a
    transaction of the test's own: creates made meanwhile pile up behind it, as behind a
    running batch on a busy server."""

    queue: CreateQueue
    sizes: list[int]  # of every batch the queue ran
    ids: Ids
    runtime: Runtime
    holder: asyncpg.Connection
    first: asyncio.Task[Outcome] | None = None

    def create(self, name: str, **new: str) -> asyncio.Task[Outcome]:
        made = _new(self.runtime, self.ids, name, **new)
        return asyncio.create_task(self.queue.create(self.ids.org, made))

    async def release(self) -> None:
        if not self.holder.is_closed():
            await self.holder.execute("ROLLBACK")
            await self.holder.close()


BlockFactory = Callable[[], Awaitable[Blocked]]


@pytest.fixture
async def queue(database_url: str) -> AsyncIterator[tuple[CreateQueue, list[int]]]:
    """A create queue of the test's own, and the size of every batch it ran."""
    sizes: list[int] = []
    queue = CreateQueue(database_url, connections=2, on_batch=sizes.append)
    await queue.start()
    try:
        yield queue, sizes
    finally:
        await queue.stop()


@pytest.fixture
async def block(
    runtime: Runtime,
    connection: asyncpg.Connection,
    database_url: str,
    queue: tuple[CreateQueue, list[int]],
) -> AsyncIterator[BlockFactory]:
    """Call it once the organisation is set up: its `first` create is then waiting."""
    made: list[Blocked] = []

    async def start() -> Blocked:
        ids = await _ids(connection, "acme")
        holder = await asyncpg.connect(database_url)
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE", ids.org)
        blocked = Blocked(*queue, ids, runtime, holder)
        made.append(blocked)
        blocked.first = blocked.create("first")
        await _blocked_by(connection, holder)
        return blocked

    try:
        yield start
    finally:
        for blocked in made:
            await blocked.release()


async def test_creates_that_arrive_while_one_runs_go_together_in_the_next(
    acme: Org, connection: asyncpg.Connection, block: BlockFactory
) -> None:
    await register_cluster(acme)
    blocked = await block()
    waiting = [blocked.create(f"w-{n}") for n in range(10)]
    # One turn of the event loop: each task queues its create in its first step.
    await asyncio.sleep(0)
    waiting[3].cancel()  # its request went away while it waited: it is not made
    await blocked.release()

    assert isinstance(await _first(blocked), Created)
    made = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(made[3], asyncio.CancelledError)
    assert all(isinstance(o, Created) for n, o in enumerate(made) if n != 3)
    assert blocked.sizes == [1, 9]
    names = {r["name"] for r in await connection.fetch("SELECT name FROM sandboxes")}
    assert names == {"first"} | {f"w-{n}" for n in range(10) if n != 3}
    assert await _active(connection, blocked.ids) == (10, {"default": 10})


async def _first(blocked: Blocked) -> Outcome:
    assert blocked.first is not None
    return await blocked.first


async def test_a_taken_name_refuses_only_its_own_create(
    acme: Org, connection: asyncpg.Connection, block: BlockFactory
) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(manifest("taken")))
    blocked = await block()
    # "again" twice: the second waits for the next batch, where the name is taken.
    later = [blocked.create(name) for name in ("a", "taken", "again", "again", "b")]
    await asyncio.sleep(0)
    await blocked.release()

    assert isinstance(await _first(blocked), Created)
    outcomes = await asyncio.gather(*later, return_exceptions=True)
    kinds = [type(outcome).__name__ for outcome in outcomes]
    assert kinds == ["Created", "IntegrityError", "Created", "IntegrityError", "Created"]
    assert isinstance(outcomes[1], sa.exc.IntegrityError)
    # The batch of four failed on "taken" and ran again one by one; then the second "again".
    assert blocked.sizes == [1, 4, 1, 1, 1, 1, 1]
    assert await _active(connection, blocked.ids) == (5, {"default": 5})


async def test_any_error_of_one_create_fails_only_that_create(
    acme: Org, connection: asyncpg.Connection, block: BlockFactory
) -> None:
    await register_cluster(acme)
    blocked = await block()
    later = [
        blocked.create("fine-1"),
        blocked.create("too-long", routing_key="k" * 17),  # the column holds 16
        blocked.create("fine-2"),
    ]
    await asyncio.sleep(0)
    await blocked.release()

    assert isinstance(await _first(blocked), Created)
    outcomes = await asyncio.gather(*later, return_exceptions=True)
    assert isinstance(outcomes[0], Created)
    assert isinstance(outcomes[1], asyncpg.StringDataRightTruncationError)
    assert isinstance(outcomes[2], Created)
    assert blocked.sizes == [1, 3, 1, 1, 1]
    assert await _active(connection, blocked.ids) == (3, {"default": 3})


async def test_stopping_waits_for_a_running_batch_then_gives_up(
    acme: Org, connection: asyncpg.Connection, block: BlockFactory
) -> None:
    await register_cluster(acme)
    blocked = await block()
    await blocked.queue.stop(grace_seconds=0.2)
    assert not blocked.queue.accepting
    with pytest.raises(RuntimeError, match="stopped before this create was written"):
        await _first(blocked)
    await blocked.release()
    assert await connection.fetchval("SELECT count(*) FROM sandboxes") == 0
    assert await _active(connection, blocked.ids) == (0, {"default": 0})


@pytest.mark.parametrize("fails", [False, True], ids=["commits", "fails-after-the-write"])
@pytest.mark.parametrize("begun", ["before", "after", "never"])
async def test_a_create_is_queued_only_as_its_unit_of_works_one_write(
    acme: Org, runtime: Runtime, connection: asyncpg.Connection, begun: str, fails: bool
) -> None:
    """In a unit of work whose transaction began, before or after the create was asked for,
    or that holds another write after it, the create is written there, last, and rolled back
    with it; only alone does it go through the queue."""
    await register_cluster(acme)
    async with runtime.unit_of_work() as tx:
        principal = await tokens.authenticate(tx, acme.token)
        assert principal is not None
        scope = OrgScope(tx, principal)
        target = await scope.sandboxes.target(
            "inside", team=None, default_team_id=principal.default_team_id, cluster="staging"
        )
    assert target.team is not None
    assert target.cluster is not None
    team, cluster = target.team, target.cluster
    batches_before = _batches(runtime)

    class FailedAfterTheWrite(Exception):
        pass

    async def fail() -> None:
        raise FailedAfterTheWrite

    async def create() -> None:
        async with runtime.unit_of_work() as tx:
            if begun == "before":
                await tx.conn.execute(sa.select(clusters.c.id))
            sandbox, created = await OrgScope(
                tx, principal, creates=runtime.creates
            ).sandboxes.apply(
                SandboxManifest.model_validate(manifest("inside")),
                team=team,
                cluster=cluster,
                exists=False,
            )
            assert created
            assert not isinstance(sandbox, StoredSandbox)  # held for the commit
            if begun == "after":
                await tx.conn.execute(sa.select(clusters.c.id))
            if fails:
                tx.before_commit(fail)  # runs after the create was written

    ids = await _ids(connection, "acme")
    if fails:
        with pytest.raises(FailedAfterTheWrite):
            await create()
        assert await connection.fetchval("SELECT count(*) FROM sandboxes") == 0
        assert await _active(connection, ids) == (0, {"default": 0})
    else:
        await create()
        revision = await connection.fetchval("SELECT revision FROM sandboxes")
        assert revision == cluster.revision + 1
        assert await _active(connection, ids) == (1, {"default": 1})
    queued = begun == "never" and not fails
    assert _batches(runtime) == batches_before + (1 if queued else 0)


def _batches(runtime: Runtime) -> float:
    sample = runtime.metrics.registry.get_sample_value(
        "sandboxmesh_sandbox_create_batch_size_count"
    )
    return sample or 0.0


async def test_the_api_sends_creates_through_the_queue(acme: Org, runtime: Runtime) -> None:
    await register_cluster(acme)
    before = _batches(runtime)
    for n in range(3):  # one after the other: each finds no batch running
        await acme.client.send(endpoints.apply_sandbox(manifest(f"api-{n}")))
    assert _batches(runtime) == before + 3
    listed = await acme.client.send(endpoints.list_sandboxes())
    assert [item.name for item in listed.items] == ["api-0", "api-1", "api-2"]


async def test_a_batch_counts_what_another_process_committed_while_it_waited(
    acme: Org,
    runtime: Runtime,
    connection: asyncpg.Connection,
    database_url: str,
    queue: tuple[CreateQueue, list[int]],
) -> None:
    """The counters are read from their newest versions, not from the batch's snapshot."""
    creates, _ = queue
    await register_cluster(acme)
    await acme.client.send(endpoints.set_organization_quota(5))
    ids = await _ids(connection, "acme")
    other = await asyncpg.connect(database_url)
    try:
        await other.execute("BEGIN")
        await other.execute(
            "UPDATE organizations SET active_sandboxes = active_sandboxes + 4 WHERE id = $1",
            ids.org,
        )
        waiting = [
            asyncio.create_task(creates.create(ids.org, _new(runtime, ids, f"late-{n}")))
            for n in range(3)
        ]
        await _blocked_by(connection, other)
        await other.execute("COMMIT")
    finally:
        await other.close()
    outcomes = await asyncio.gather(*waiting)
    assert [_named(outcome) for outcome in outcomes] == [
        "created",
        "organization_full",
        "organization_full",
    ]
    assert (await _active(connection, ids))[0] == 5


async def test_two_queues_on_one_organisation_keep_its_limit(
    acme: Org, runtime: Runtime, connection: asyncpg.Connection, database_url: str
) -> None:
    """As two server processes do: their batches meet on the organisation's row."""
    await register_cluster(acme)
    await acme.client.send(endpoints.set_team_quota("default", 5))
    ids = await _ids(connection, "acme")
    queues = [CreateQueue(database_url, connections=2) for _ in range(2)]
    for queue in queues:
        await queue.start()
    try:
        outcomes = await asyncio.gather(
            *(queues[n % 2].create(ids.org, _new(runtime, ids, f"two-{n}")) for n in range(50))
        )
    finally:
        for queue in queues:
            await queue.stop()
    assert sorted(_named(outcome) for outcome in outcomes) == ["created"] * 5 + ["team_full"] * 45
    assert await _active(connection, ids) == (5, {"default": 5})
    assert await connection.fetchval("SELECT count(*) FROM sandboxes") == 5


async def _blocked_by(connection: asyncpg.Connection, holder: asyncpg.Connection) -> None:
    """Until a batch's lock of the counters waits for a lock `holder`'s transaction holds."""

    async def blocked() -> bool:
        return bool(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE $1 = ANY(pg_blocking_pids(pid))"
                " AND query LIKE '%FOR NO KEY UPDATE OF organizations%'",
                holder.get_server_pid(),
            )
        )

    await eventually_async(blocked, timeout=20, what="a create waiting for the row lock")

"""Hot statements compiled once for asyncpg and run on the driver connection itself.

SQLAlchemy's execution path (greenlet hand-off, execution context, cursor adapter, result
object) costs more CPU per statement than asyncpg's own (docs/controlplane.md, *Performance*),
and the requests every client makes (authentication, a sandbox's create) run three or four
statements each. A `Prepared` statement is the same Core statement the SQLite path executes
through SQLAlchemy, compiled once for asyncpg with SQLAlchemy's public API:
`compile(dialect=...)`, then the compiled statement's `construct_expanded_state`, whose
`ExpandedState` holds the final SQL (constants SQLAlchemy renders into it, such as
`aggregate_strings`' separator, rendered once), the order of its placeholders and the
statement's own constant values. Each value is converted by the bind processor of its
parameter's type for the dialect (`TypeEngine.dialect_impl(dialect).bind_processor`: aware
datetimes to naive UTC, JSON to text), each row by the result processors of its columns'
types, as SQLAlchemy's execution does. Nothing is written twice: SQL and types come from the
Core objects.

It runs on the connection SQLAlchemy holds (`Tx` hands it over), so it sees the same
transaction whenever SQLAlchemy began one, and is a transaction of its own otherwise: `Tx`
therefore runs only reads this way (`writes` says which is which), and the statements of a
batch of creates only inside a transaction its caller opened (repository/sandbox_creates.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import ReturnsRows, UpdateBase

# The dialect as `store.engine.create_engine` configures it (default JSON serializers): the
# bind and result processors below are the ones that engine would apply.
DIALECT = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]  # (unannotated)

Processor = Callable[[Any], Any] | None
Statement = sa.Select[Any] | sa.Insert | sa.Update | sa.Delete


class Prepared:
    """`statement` compiled for asyncpg, with the conversions of its parameters and columns."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        #: Whether it changes rows: an INSERT, UPDATE or DELETE, or one inside a WITH.
        self.writes = any(isinstance(part, UpdateBase) for part in visitors.iterate(statement))
        compiled = statement.compile(dialect=DIALECT)
        #: The caller's parameters: the statement's bound parameters without a value of their
        #: own (a constant of the statement, `sa.literal(1)`, has its value).
        self.parameters = frozenset(key for key, value in compiled.params.items() if value is None)
        expanded = compiled.construct_expanded_state(dict.fromkeys(self.parameters))
        self.sql = expanded.statement
        # Per placeholder, in order: the caller's parameter, or the statement's own constant;
        # and the bind processor of its type for this dialect, as SQLAlchemy's execution
        # applies it (None: the value goes as it is).
        self._binds: list[tuple[str, bool, Any, Processor]] = [
            (
                key,
                key in self.parameters,
                expanded.parameters[key],
                compiled.binds[key].type.dialect_impl(DIALECT).bind_processor(DIALECT),
            )
            for key in expanded.positiontup or []
        ]
        # A SELECT's columns, or an UPDATE's or INSERT's RETURNING (none: no row to read).
        columns: Any = statement.exported_columns if isinstance(statement, ReturnsRows) else []
        self._columns: list[tuple[str, Processor]] = [
            (column.key, column.type.dialect_impl(DIALECT).result_processor(DIALECT, None))
            for column in columns
        ]

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        """The positional values of `parameters`, converted as SQLAlchemy would."""
        values = []
        for key, required, constant, process in self._binds:
            value = parameters[key] if required else constant
            values.append(value if process is None else process(value))
        return values

    def row(self, record: asyncpg.Record) -> dict[str, Any]:
        return {
            key: value if process is None else process(value)
            for (key, process), value in zip(self._columns, record.values(), strict=True)
        }

    async def fetch_one(
        self, connection: asyncpg.Connection, parameters: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        with self._integrity_errors(parameters):
            record = await connection.fetchrow(self.sql, *self.arguments(parameters))
        return None if record is None else self.row(record)

    async def fetch_all(
        self, connection: asyncpg.Connection, parameters: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        with self._integrity_errors(parameters):
            records = await connection.fetch(self.sql, *self.arguments(parameters))
        return [self.row(record) for record in records]

    async def execute(self, connection: asyncpg.Connection, parameters: Mapping[str, Any]) -> None:
        with self._integrity_errors(parameters):
            await connection.execute(self.sql, *self.arguments(parameters))

    @contextmanager
    def _integrity_errors(self, parameters: Mapping[str, Any]) -> Iterator[None]:
        """A violated constraint raised as SQLAlchemy raises it, so that one handler answers
        both stores' conflicts (a create that lost a race for its name: 409)."""
        try:
            yield
        except asyncpg.IntegrityConstraintViolationError as error:
            raise sa.exc.IntegrityError(self.sql, parameters, error) from error

"""The SQL store: tables, engines for SQLite and PostgreSQL, and the Alembic migrations."""

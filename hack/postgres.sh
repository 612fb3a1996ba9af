#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and benchmarks:
#   hack/postgres.sh run -- CMD ARGS...
# installs the server binaries when missing (Debian's postgresql), starts a fresh cluster in a
# temporary directory on a free loopback port, runs CMD with SANDBOXMESH_TEST_DATABASE_URL set,
# then stops the server and removes its files, whatever CMD exits with (its exit code is kept).
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user.
# POSTGRES_DURABLE=1 keeps fsync and synchronous commit on (benchmarks); by default they are off,
# since a test database never needs to survive a crash.
set -euo pipefail

usage() { echo "usage: $0 run -- CMD [ARGS...]" >&2; exit 2; }
[[ "${1:-}" == "run" ]] || usage
shift
[[ "${1:-}" == "--" ]] && shift
[[ $# -gt 0 ]] || usage

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/postgres" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

BINDIR="$(find_bindir || true)"
if [[ -z "$BINDIR" ]]; then
    if [[ "$(id -u)" != 0 ]]; then
        echo "postgres.sh: PostgreSQL server binaries are missing; install Debian's postgresql" >&2
        exit 1
    fi
    echo "postgres.sh: installing PostgreSQL (apt-get install postgresql)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    BINDIR="$(find_bindir)"
fi

as_owner=()
if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    as_owner=(runuser -u postgres --)
fi

WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/sandboxmesh-pg.XXXXXX")"
chmod 0755 "$WORKDIR"
[[ ${#as_owner[@]} -gt 0 ]] && chown postgres "$WORKDIR"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
    "${as_owner[@]}" "$BINDIR/pg_ctl" -D "$WORKDIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$WORKDIR"
}
trap stop EXIT

"${as_owner[@]}" "$BINDIR/initdb" -D "$WORKDIR/data" -U postgres -A trust -E UTF8 --no-sync \
    >"$WORKDIR/initdb.log" 2>&1 || { cat "$WORKDIR/initdb.log" >&2; exit 1; }

options="-c listen_addresses=127.0.0.1 -p $PORT -k $WORKDIR -c max_connections=400"
if [[ "${POSTGRES_DURABLE:-0}" != 1 ]]; then
    options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
"${as_owner[@]}" "$BINDIR/pg_ctl" -D "$WORKDIR/data" -l "$WORKDIR/server.log" -o "$options" \
    -w -t 60 start >/dev/null || { cat "$WORKDIR/server.log" >&2; exit 1; }

export SANDBOXMESH_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
echo "postgres.sh: PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') at $SANDBOXMESH_TEST_DATABASE_URL" >&2
set +e
"$@"
status=$?
set -e
exit $status

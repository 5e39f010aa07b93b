#!/usr/bin/env bash
# Run a command with NODE_TEST_POSTGRES_URL pointing at a real PostgreSQL server.
# If the variable is already set, use that server. Otherwise start a throwaway cluster on a free
# loopback port (PostgreSQL's own initdb/pg_ctl), run the command, and remove the cluster.
set -euo pipefail

if [[ -n "${NODE_TEST_POSTGRES_URL:-}" ]]; then
  exec "$@"
fi

pgbin=""
for dir in /usr/lib/postgresql/*/bin; do
  [[ -x "$dir/initdb" ]] && pgbin="$dir"
done
if [[ -z "$pgbin" ]]; then
  echo "with-postgres: PostgreSQL is not installed; the PostgreSQL lane will be skipped" >&2
  exec "$@"
fi

work=$(mktemp -d /tmp/hrcnet-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  # PostgreSQL refuses to run as root: run the throwaway cluster as the postgres user.
  chown postgres "$work"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"${as_pg[@]}" "$pgbin/initdb" -D "$work/data" -U hrcnet --auth=trust -E UTF8 >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work -c fsync=off -c full_page_writes=off" start >/dev/null
export NODE_TEST_POSTGRES_URL="postgresql+psycopg://hrcnet@127.0.0.1:$port/postgres"
echo "with-postgres: throwaway PostgreSQL on 127.0.0.1:$port" >&2
"$@"

#!/usr/bin/env bash
# Runs a command with a PostgreSQL server answering, and ADREC_TEST_PG set to its base URL
# (postgres://postgres@127.0.0.1:PORT, trust auth).
#
# Uses the server at 127.0.0.1:5432 when one answers as user postgres. Otherwise starts a
# throwaway cluster (initdb + pg_ctl, port 55432, data under $ADREC_CACHE) for the command's
# duration, installing Debian's postgresql first if no server binaries exist, and stops it after.
set -euo pipefail

cache="${ADREC_CACHE:-$HOME/.cache/adrec}"
port="${ADREC_PG_PORT:-55432}"

answers() { pg_isready -q -h 127.0.0.1 -p "$1" 2>/dev/null && psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }

if [ -n "${ADREC_TEST_PG:-}" ]; then
  exec "$@"
fi
if [ -z "${ADREC_PG_THROWAWAY:-}" ] && command -v pg_isready >/dev/null && answers 5432; then
  export ADREC_TEST_PG="postgres://postgres@127.0.0.1:5432"
  exec "$@"
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bindir" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "with-pg: no PostgreSQL server found; installing Debian's postgresql" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  else
    echo "with-pg: no PostgreSQL answers on 127.0.0.1:5432 and no server binaries are installed." >&2
    echo "         Install PostgreSQL 15+ (Debian/Ubuntu: sudo apt-get install postgresql), then retry." >&2
    exit 1
  fi
fi

# Not under $HOME: the postgres user must reach it (a root home is private).
data="${ADREC_PG_DATA:-/var/tmp/adrec-pg-$port}"
run_as=()
if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); fi   # initdb refuses to run as root
mkdir -p "$cache"
if [ ! -s "$data/PG_VERSION" ]; then
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres: "$data"
  "${run_as[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
fi
[ "$(id -u)" = 0 ] && chown -R postgres: "$data"
# TLS on, with a self-signed certificate for localhost, like a real server (the TLS test uses it).
if [ ! -s "$data/server.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" -addext "basicConstraints=critical,CA:FALSE" -keyout "$data/server.key" -out "$data/server.crt" 2>/dev/null
  chmod 600 "$data/server.key"
  [ "$(id -u)" = 0 ] && chown postgres: "$data/server.key" "$data/server.crt"
fi
started=0
if ! answers "$port"; then
  "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c ssl=on -c ssl_cert_file=$data/server.crt -c ssl_key_file=$data/server.key" start >/dev/null
  started=1
  echo "with-pg: started a throwaway PostgreSQL on 127.0.0.1:$port (data in $data)" >&2
fi
stop() { if [ "$started" = 1 ]; then "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null; echo "with-pg: stopped it" >&2; fi; }
trap stop EXIT
export ADREC_TEST_PG="postgres://postgres@127.0.0.1:$port"
"$@"

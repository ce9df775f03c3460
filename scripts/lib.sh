# Shared by the scripts that run the service (demo, docs check, benchmarks). Source it.
# Needs ADREC_BIN and ADREC_TEST_PG (scripts/with-pg.sh sets the latter).

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# fresh_db NAME: drops and creates a database, prints its URL.
fresh_db() {
  psql "$ADREC_TEST_PG/postgres" -q -o /dev/null -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
  echo "$ADREC_TEST_PG/$1"
}

# start_adrec DATABASE_URL RAW_DIR WORK_DIR: serves in the background and waits until ready.
# Sets ADREC_PID, ADREC_BASE, ADREC_TOKEN. Stop with stop_adrec.
start_adrec() {
  local port
  port=$(free_port)
  ADREC_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  ADREC_BASE="http://127.0.0.1:$port"
  DATABASE_URL="$1" RAW_URL="file://$2/" WORK_URL="file://$3/" JOBS_TOKENS="$ADREC_TOKEN" \
    PORT="$port" HOST=127.0.0.1 READ_CACHE="${READ_CACHE:-true}" RUST_LOG="${RUST_LOG:-warn}" "$ADREC_BIN" serve &
  ADREC_PID=$!
  for _ in $(seq 200); do
    curl -fsS "$ADREC_BASE/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$ADREC_PID" 2>/dev/null || { echo "adrec exited during startup" >&2; return 1; }
    sleep 0.1
  done
  echo "adrec did not become ready at $ADREC_BASE" >&2
  return 1
}

stop_adrec() {
  if [ -n "${ADREC_PID:-}" ]; then
    kill "$ADREC_PID" 2>/dev/null || true
    wait "$ADREC_PID" 2>/dev/null || true
    ADREC_PID=
  fi
}

# run_job TASK DATE: POST with a long poll, then poll the run until it finishes; prints the run.
run_job() {
  local run id
  run=$(curl -sS -X POST -H "Authorization: Bearer $ADREC_TOKEN" "$ADREC_BASE/jobs/$1?date=$2&wait=100")
  while echo "$run" | grep -q '"status":"running"'; do
    id=$(echo "$run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    run=$(curl -sS -H "Authorization: Bearer $ADREC_TOKEN" "$ADREC_BASE/jobs/runs/$id?wait=100")
  done
  echo "$run"
}

# wait_port PORT: until something listens on 127.0.0.1:PORT (30 s at most).
wait_port() {
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on port $1" >&2
  return 1
}

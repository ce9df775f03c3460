#!/usr/bin/env bash
# Schemathesis against the served /openapi.json: every check, every phase (examples, coverage,
# fuzzing, stateful), on a service whose database holds the pipeline's real output for the sample
# days (data/sample, 2024-11-23..25), so read endpoints are reached with real ids, not only 404s.
# Any failure fails the script.
#
# Schemathesis lives in a venv at ${ADREC_CACHE:-$HOME/.cache/adrec}/venv-schemathesis, created on
# first use with the pinned version below. Needs ADREC_BIN and ADREC_TEST_PG (scripts/with-pg.sh).
# Env: ADREC_ST_EXAMPLES (cases per operation and phase, default 60), ADREC_ST_SEED (default 1).
# One worker: with two, Python 3.11.7's ast.parse (Hypothesis calls it to describe strategies)
# races across threads ("AST constructor recursion depth mismatch", fixed in CPython 3.11.8).
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$SECONDS
cache="${ADREC_CACHE:-$HOME/.cache/adrec}"
venv="$cache/venv-schemathesis"
: "${ADREC_BIN:?set ADREC_BIN to the adrec binary}"
: "${ADREC_TEST_PG:?run under scripts/with-pg.sh}"

mkdir -p "$cache"
exec 9> "$cache/venv-schemathesis.lock"
flock 9
if [[ "$("$venv/bin/schemathesis" --version 2> /dev/null || true)" != *"$SCHEMATHESIS_VERSION"* ]]; then
  echo "schemathesis: installing $SCHEMATHESIS_VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
flock -u 9

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
work=$(mktemp -d)
cleanup() { stop_adrec; rm -rf "$work"; }
trap cleanup EXIT

db=$(fresh_db adrec_schemathesis)
RUST_LOG=error start_adrec "$db" "$root/data/sample" "$work"
for day in 2024-11-23 2024-11-24 2024-11-25; do
  run=$(run_job pipeline "$day")
  if ! grep -q '"status":"succeeded"' <<< "$run"; then
    echo "schemathesis: seeding failed: pipeline $day: $run" >&2
    exit 1
  fi
done
echo "schemathesis: seeded 3 days of recommendations in $((SECONDS - started)) s; testing $ADREC_BASE" >&2

# Run from the cache dir: Schemathesis keeps its crash cache (replayed first next time) in
# ./.schemathesis, which belongs there, not in the repository.
mkdir -p "$cache/schemathesis"
cd "$cache/schemathesis"
"$venv/bin/schemathesis" --no-color run "$ADREC_BASE/openapi.json" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --header "Authorization: Bearer $ADREC_TOKEN" \
  --max-examples "${ADREC_ST_EXAMPLES:-60}" \
  --seed "${ADREC_ST_SEED:-1}" \
  --workers 1 \
  --request-timeout 130
echo "schemathesis: passed in $((SECONDS - started)) s" >&2

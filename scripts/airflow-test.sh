#!/usr/bin/env bash
# Test the Airflow DAG (airflow/) with real Airflow: build or reuse the venv from the committed lock, make a
# fresh AIRFLOW_HOME with a migrated SQLite metadata DB, run pytest on airflow/tests.
#
# Needs: python3.11 (or ADREC_PYTHON) with venv + pip, and PyPI the first time. The real-service
# end-to-end test needs ADREC_BIN=<adrec binary>, psql on ADREC_PG_URL and the sample logs (ADREC_SAMPLE_DATA,
# default data/sample in the repository); without ADREC_BIN it fails unless ADREC_AIRFLOW_SKIP_REAL=1.
# Extra arguments go to pytest (e.g. -k stub).
#
# Env: ADREC_CACHE (default ~/.cache/adrec) holds venv-airflow/, re-installed only when the lock changes.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${ADREC_CACHE:-$HOME/.cache/adrec}
venv=$cache/venv-airflow
python=${ADREC_PYTHON:-python3.11}
lock_files=("$repo/airflow/requirements.lock" "$repo/airflow/requirements-test.txt")

want=$(cat "${lock_files[@]}" | sha256sum | cut -d' ' -f1)
have=$(cat "$venv/.lock-sha256" 2>/dev/null || true)
if [[ "$want" != "$have" || ! -x "$venv/bin/airflow" ]]; then
    command -v "$python" >/dev/null || { echo "airflow-test: $python not found (set ADREC_PYTHON)" >&2; exit 1; }
    echo "airflow-test: installing $venv from airflow/requirements.lock" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$repo/airflow/requirements-test.txt"
    "$venv/bin/pip" check --disable-pip-version-check >&2
    echo "$want" >"$venv/.lock-sha256"  # written last: a broken install is redone next time
fi

AIRFLOW_HOME=$(mktemp -d "${TMPDIR:-/tmp}/adrec-airflow-home.XXXXXX")
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW_HOME
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER=$repo/airflow/dags
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the work tree
export PATH=$venv/bin:$PATH  # `airflow` for the tests' `airflow dags test`

echo "airflow-test: airflow db migrate (AIRFLOW_HOME=$AIRFLOW_HOME)" >&2
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }

# pytest exits 5 when it collected no tests: like any non-zero status, that fails this script.
cd "$repo"
"$venv/bin/python" -m pytest airflow/tests -p no:cacheprovider -ra "$@"

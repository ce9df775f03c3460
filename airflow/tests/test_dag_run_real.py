"""`airflow dags test adrec_daily 2024-11-25` against the real adrec service, on a fresh Postgres database.

Needs `ADREC_BIN` (the adrec binary; `make test` sets it), psql on `ADREC_PG_URL`
(default postgres://postgres@127.0.0.1:5432) and the course sample logs (`ADREC_SAMPLE_DATA`, default
`<repo>/data/sample`, shipped in the repository). Without ADREC_BIN the test fails, unless
ADREC_AIRFLOW_SKIP_REAL=1 says to skip it.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from support import REPO, TASKS, dags_test, http_connection, output_of, run_states

DAY = "2024-11-25"
# The course sample logs shipped in the repository (dates 2024-11-23..2024-11-25), unless ADREC_SAMPLE_DATA says otherwise.
SAMPLE = Path(
    os.environ.get("ADREC_SAMPLE_DATA") or REPO / "data" / "sample"
).resolve()


@dataclass
class Service:
    url: str
    port: int
    token: str
    log: Path


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True, timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


@pytest.fixture(scope="module")
def adrec_service(tmp_path_factory):
    binary = os.environ.get("ADREC_BIN")
    if not binary:
        if os.environ.get("ADREC_AIRFLOW_SKIP_REAL") == "1":
            pytest.skip("ADREC_AIRFLOW_SKIP_REAL=1: the DAG was not run against the real adrec service")
        pytest.fail(
            "ADREC_BIN is not set: this test runs the DAG against the real adrec service "
            "(ADREC_BIN=/path/to/adrec, as `make test` does). Set ADREC_AIRFLOW_SKIP_REAL=1 to skip it on purpose.",
            pytrace=False,
        )
    if not os.access(binary, os.X_OK):
        pytest.fail(f"ADREC_BIN={binary} is not an executable file", pytrace=False)
    if not (SAMPLE / "advertiser_ids").is_file():
        pytest.fail(f"sample data missing: no {SAMPLE}/advertiser_ids (set ADREC_SAMPLE_DATA)", pytrace=False)

    pg = os.environ.get("ADREC_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    database = f"adrec_af_{secrets.token_hex(6)}"
    psql(f"{pg}/postgres", f"CREATE DATABASE {database}")
    work = tmp_path_factory.mktemp("adrec-work")
    log = work.parent / f"{work.name}.log"
    port = free_port()
    token = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        DATABASE_URL=f"{pg}/{database}",
        RAW_URL=f"file://{SAMPLE}/",
        WORK_URL=f"file://{work}/",
        JOBS_TOKENS=token,
        PORT=str(port),
    )
    process = None
    try:
        with log.open("w") as out:
            process = subprocess.Popen([binary, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"adrec serve exited with {process.returncode}:\n{log_tail(log)}", pytrace=False)
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"adrec serve was not ready within 120 s:\n{log_tail(log)}", pytrace=False)
            time.sleep(0.5)
        yield Service(url=url, port=port, token=token, log=log)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        psql(f"{pg}/postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def an_active_advertiser() -> str:
    lines = [line.strip() for line in (SAMPLE / "advertiser_ids").read_text().splitlines() if line.strip()]
    assert lines[0] == "advertiser_id"
    return lines[1]


def test_dag_run_computes_and_publishes_recommendations(adrec_service, airflow_db):
    result = dags_test(DAY, http_connection(adrec_service.port, adrec_service.token, token_in="password"))
    detail = f"{output_of(result)}\n--- adrec log (tail)\n{log_tail(adrec_service.log)}"

    assert result.returncode == 0, detail
    state, tasks = run_states(airflow_db, DAY)
    assert state == "success", detail
    assert tasks == {task: ("success", 1) for task in TASKS}, detail
    assert adrec_service.token not in result.stdout + result.stderr

    advertiser = an_active_advertiser()
    for model in ("top_product", "top_ctr"):
        answer = requests.get(
            f"{adrec_service.url}/recommendations/{advertiser}/{model}", params={"date": DAY}, timeout=10
        )
        assert answer.status_code == 200, f"{model}: {answer.status_code} {answer.text[:500]}"
        body = answer.json()
        assert body["advertiser_id"] == advertiser and body["date"] == DAY, body
        ranks = [rec["rank"] for rec in body["recommendations"]]
        assert 1 <= len(ranks) <= 20, body
        assert ranks == list(range(1, len(ranks) + 1)), body


def test_dag_run_fails_when_the_real_service_refuses_the_token(adrec_service, airflow_db):
    day = "2024-11-26"
    result = dags_test(
        day,
        http_connection(adrec_service.port, "a-revoked-token-0000", token_in="password"),
        ADREC_AIRFLOW_RETRIES="0",
    )

    assert result.returncode != 0, output_of(result)
    state, tasks = run_states(airflow_db, day)
    assert state == "failed", output_of(result)
    assert tasks["filter_data"][0] == "failed"
    assert {tasks[t][0] for t in ("top_ctr", "top_product", "db_writing")} == {"upstream_failed"}
    assert "401" in result.stdout + result.stderr
    assert "a-revoked-token-0000" not in result.stdout + result.stderr
    # Nothing ran: the service recorded no run for that day.
    runs = requests.get(
        f"{adrec_service.url}/jobs/runs",
        params={"date": day},
        headers={"Authorization": f"Bearer {adrec_service.token}"},
        timeout=10,
    )
    assert runs.status_code == 200 and runs.json()["runs"] == [], runs.text

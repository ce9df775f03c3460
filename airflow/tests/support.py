"""Helpers the test modules share: paths, the `adrec_api` connection, `airflow dags test` and its outcome."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "airflow" / "dags"
DAG_ID = "adrec_daily"
TASKS = ("filter_data", "top_ctr", "top_product", "db_writing")
AIRFLOW = Path(sys.executable).with_name("airflow")


def http_connection(port: int, token: str, *, token_in: str = "extra") -> str:
    """`AIRFLOW_CONN_ADREC_API` for a loopback service, the token in the extra header or in the password."""
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}
    if token_in == "extra":
        conn["extra"] = {"Authorization": f"Bearer {token}"}
    else:
        conn["password"] = token
    return json.dumps(conn)


def dags_test(day: str, connection: str, **env: str) -> subprocess.CompletedProcess:
    """`airflow dags test adrec_daily <day>` as an admin would run it; returns the finished process."""
    return _airflow(["dags", "test", DAG_ID, day], connection, env)


def tasks_test(task: str, day: str, connection: str, **env: str) -> subprocess.CompletedProcess:
    """`airflow tasks test adrec_daily <task> <day>`: one task, its upstream tasks ignored, nothing recorded."""
    return _airflow(["tasks", "test", DAG_ID, task, day], connection, env)


def _airflow(args: list[str], connection: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "AIRFLOW_CONN_ADREC_API": connection, **env}
    return subprocess.run(
        [str(AIRFLOW), *args], env=full_env, capture_output=True, text=True, timeout=600, check=False,
    )


def run_states(db: Path, day: str) -> tuple[str | None, dict[str, tuple[str, int]]]:
    """The DAG run's state for logical date `day`, and each task's (state, try_number)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? AND logical_date LIKE ?", (DAG_ID, f"{day}%")
        ).fetchone()
        if row is None:
            return None, {}
        tis = conn.execute(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?", (DAG_ID, row[0])
        ).fetchall()
    return row[1], {task: (state, tries) for task, state, tries in tis}


def output_of(result: subprocess.CompletedProcess) -> str:
    return (
        f"exit {result.returncode}\n--- stdout (tail)\n{result.stdout[-6000:]}"
        f"\n--- stderr (tail)\n{result.stderr[-4000:]}"
    )

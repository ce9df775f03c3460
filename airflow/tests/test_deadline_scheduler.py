"""The deadline alert end to end, as on the EC2 host: a real `airflow api-server`, `scheduler` and `dag-processor`
(LocalExecutor), the DAG parsed by them, a triggered run that is not finished 5 s after it was queued (the DAG stays
paused, so the run is never started), and the scheduler's missed-deadline callback publishing through the amazon
provider's SnsNotifier to the loopback SNS stub. About 20 s, in an AIRFLOW_HOME of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
from sns_stub import TEST_TOPIC, StubSns
from support import AIRFLOW, DAG_ID, DAGS

DAY = "2024-11-23"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def airflow_services(tmp_path):
    """Starts the three Airflow components against a fresh SQLite DB; yields (env, sns); stops them after."""
    with StubSns() as sns:
        api = free_port()
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path),
            "PATH": f"{AIRFLOW.parent}:{os.environ['PATH']}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret-for-this-test-only-0123",
            "AIRFLOW__API__SECRET_KEY": "api-secret-for-this-test-only-0123",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_AWS_DEFAULT": sns.connection,
            "AIRFLOW_CONN_ADREC_API": json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9}),
            "ADREC_AIRFLOW_RUN_DEADLINE_SECONDS": "5",
        }
        subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
        procs = [
            subprocess.Popen([str(AIRFLOW), component], env=env, stdout=(tmp_path / f"{component}.log").open("w"),
                             stderr=subprocess.STDOUT, start_new_session=True)
            for component in ("api-server", "scheduler", "dag-processor")
        ]
        try:
            yield env, sns
        finally:
            for p in procs:
                os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()


def airflow(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=120)


def logs(env) -> str:
    home = env["AIRFLOW_HOME"]
    return "\n".join(f"--- {c}.log (tail)\n" + open(f"{home}/{c}.log").read()[-3000:]
                     for c in ("scheduler", "dag-processor", "api-server"))


def test_a_run_past_its_deadline_is_announced_by_the_scheduler(airflow_services):
    env, sns = airflow_services
    deadline = time.monotonic() + 120
    while DAG_ID not in airflow(env, "dags", "list", "-o", "plain").stdout:  # parsed by the dag-processor
        assert time.monotonic() < deadline, logs(env)
        time.sleep(2)

    triggered = airflow(env, "dags", "trigger", DAG_ID, "--logical-date", f"{DAY}T00:00:00+00:00")
    assert triggered.returncode == 0, triggered.stderr
    while not sns.published:
        assert time.monotonic() < deadline, logs(env)
        time.sleep(1)

    assert [(c["TargetArn"], c["Subject"], c["signed"]) for c in sns.published] == [
        (TEST_TOPIC, "adrec: a run of adrec_daily missed its deadline", True)]
    (text,) = sns.messages()
    assert re.match(rf"adrec alert: adrec_daily run manual__\S+ \(ds {DAY}T00:00:00Z\) is not finished at its", text)
    assert "5 s after it was queued | runbook: infra/README.md#adrec_daily-deadline-missed" in text

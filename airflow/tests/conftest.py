"""Shared fixtures for the DAG tests. Run them with scripts/airflow-test.sh (it builds the venv and AIRFLOW_HOME).

Airflow reads its config when first imported, so the environment is settled here, before any test imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sns_stub import TEST_TOPIC, aws_connection
from support import AIRFLOW, DAG_ID, DAGS

if "AIRFLOW_HOME" not in os.environ:  # plain `pytest`: never touch ~/airflow
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="adrec-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
for knob in ("ADREC_AIRFLOW_RETRIES", "ADREC_AIRFLOW_RETRY_DELAY_SECONDS"):  # tests pass them per `dags test`
    os.environ.pop(knob, None)
os.environ.pop("ADREC_AIRFLOW_ALERT_WEBHOOK", None)  # failing test runs must never page a real channel
# ...nor publish to a real SNS topic: a test topic, and an aws_default that reaches no AWS (port 9, refused)
# unless a test points it at its StubSns.
os.environ["AIRFLOW_VAR_ADREC_ALERT_TOPIC_ARN"] = TEST_TOPIC
os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection("http://127.0.0.1:9")
sys.path.insert(0, str(DAGS))  # `import adrec_daily` for the unit tests of its helpers


@pytest.fixture(scope="session")
def dagbag():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:  # Airflow 2.x
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="session")
def dag(dagbag):
    # `.dags`, not `get_dag()`: on Airflow 3 the latter reads the metadata DB.
    return dagbag.dags[DAG_ID]


@pytest.fixture(scope="session")
def airflow_db():
    """The metadata DB that `airflow dags test` needs; scripts/airflow-test.sh has usually migrated it already."""
    home = Path(os.environ["AIRFLOW_HOME"])
    if not (home / "airflow.db").exists():
        subprocess.run([str(AIRFLOW), "db", "migrate"], check=True, capture_output=True, timeout=300)
    return home / "airflow.db"

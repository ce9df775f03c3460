"""The DAG's SNS notifiers publish for real (boto3, request signing, the provider's hook) to a loopback stub.

The deadline alert's callback is run the way the executor's callback supervisor runs it (`execute_callback`, with
the small context the scheduler builds when a deadline is missed): `dags test` runs no scheduler, so no deadline
can be missed there. The failure notifier is exercised by the failing `dags test` runs of test_dag_run_stub.py.
"""

from __future__ import annotations

import json

import pytest
import structlog
from sns_stub import TEST_TOPIC, StubSns
from support import DAGS


def deadline_of(dag):
    deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    return deadlines[0]


def missed_deadline_context() -> dict:
    """What Deadline.handle_miss passes as `context` (the run as DAGRunResponse JSON, and the deadline)."""
    return {
        "dag_run": {"dag_id": "adrec_daily", "dag_run_id": "scheduled__2024-11-25T00:00:00+00:00",
                    "logical_date": "2024-11-25T00:00:00Z", "state": "running"},
        "deadline": {"id": "0b6f4d8e-8d7a-4c53-9a51-2f1f7b0c8e11", "deadline_time": "2024-11-26T02:00:05Z"},
    }


def test_a_missed_deadline_publishes_to_the_topic(dag, monkeypatch):
    supervisor = pytest.importorskip("airflow.sdk.execution_time.callback_supervisor")
    callback = deadline_of(dag).callback
    with StubSns() as sns:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", sns.connection)
        ok, error = supervisor.execute_callback(
            callback.path, {**callback.kwargs, "context": missed_deadline_context()},
            dag_rel_path="adrec_daily.py", bundle_path=str(DAGS), log=structlog.get_logger("test"),
        )
    assert ok, error
    assert len(sns.published) == 1
    call = sns.published[0]
    assert call["TargetArn"] == TEST_TOPIC and call["signed"]
    assert call["Subject"] == "adrec: a run of adrec_daily missed its deadline"
    (text,) = sns.messages()
    assert text.startswith("adrec alert: adrec_daily run scheduled__2024-11-25T00:00:00+00:00 (ds 2024-11-25T00:00:00Z)")
    assert "at its deadline 2024-11-26T02:00:05Z, 2 h after it was queued" in text
    assert text.endswith("runbook: infra/README.md#adrec_daily-deadline-missed")


def test_a_failed_publish_fails_the_callback_not_silently(dag, monkeypatch):
    """No SNS reachable (the tests' default aws_default): the executor records the callback as failed, with why."""
    supervisor = pytest.importorskip("airflow.sdk.execution_time.callback_supervisor")
    callback = deadline_of(dag).callback
    ok, error = supervisor.execute_callback(
        callback.path, {**callback.kwargs, "context": missed_deadline_context()},
        dag_rel_path="adrec_daily.py", bundle_path=str(DAGS), log=structlog.get_logger("test"),
    )
    assert not ok and "Callback execution failed" in error


def test_the_stub_speaks_what_boto3_sends():
    """The stub itself, through boto3 as the hook uses it (so a protocol change in botocore shows here first)."""
    boto3 = pytest.importorskip("boto3")
    with StubSns() as sns:
        extra = json.loads(sns.connection)["extra"]
        client = boto3.client("sns", region_name="us-east-1", endpoint_url=extra["endpoint_url"],
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        answer = client.publish(TargetArn=TEST_TOPIC, Message="hello", Subject="s")
    assert answer["MessageId"] and sns.published[0]["Message"] == "hello"

"""The DAG as Airflow parses it: imports, shape, schedule, concurrency, retries, operator settings. No DB needed."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import types
from datetime import timedelta

import jinja2
import pendulum
import pytest
from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
from airflow.providers.http.operators.http import HttpOperator
from sns_stub import TEST_TOPIC
from support import DAGS, REPO, TASKS

WAIT = 100
APP_RUNNER_CUT = 120


def test_dagbag_imports_clean(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == ["adrec_daily"]


def test_tasks_and_dependencies(dag):
    assert sorted(dag.task_ids) == sorted(TASKS)
    assert dag.get_task("filter_data").upstream_task_ids == set()
    assert dag.get_task("filter_data").downstream_task_ids == {"top_ctr", "top_product"}
    assert dag.get_task("top_ctr").downstream_task_ids == {"db_writing"}
    assert dag.get_task("top_product").downstream_task_ids == {"db_writing"}
    assert dag.get_task("db_writing").upstream_task_ids == {"top_ctr", "top_product"}
    assert dag.get_task("db_writing").downstream_task_ids == set()


def test_timetable_comes_from_the_task_sdk(dag):
    """Airflow 3 DAG files take timetables from `airflow.sdk`; `airflow.timetables` is the scheduler's side."""
    sdk = pytest.importorskip("airflow.sdk")
    if not hasattr(sdk, "CronDataIntervalTimetable"):
        pytest.skip("no timetables in this Airflow's task SDK: the DAG falls back to airflow.timetables")
    import adrec_daily

    assert adrec_daily.CronDataIntervalTimetable is sdk.CronDataIntervalTimetable
    assert type(dag.timetable) is sdk.CronDataIntervalTimetable


def test_timetable_falls_back_where_the_sdk_has_none(monkeypatch):
    """On Airflow 2.x (no `airflow.sdk`), or a task SDK that predates timetables, the DAG takes the core class."""
    import airflow.sdk
    from airflow.timetables.interval import CronDataIntervalTimetable as Core

    class SdkWithoutTimetables(types.ModuleType):
        def __getattr__(self, name):
            if name.endswith("Timetable"):
                raise AttributeError(name)
            return getattr(airflow.sdk, name)

    monkeypatch.setitem(sys.modules, "airflow.sdk", SdkWithoutTimetables("airflow.sdk"))
    spec = importlib.util.spec_from_file_location("adrec_daily_fallback", DAGS / "adrec_daily.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.CronDataIntervalTimetable is Core
    assert type(module.dag.timetable) is Core


def scheduled_timetable(dag):
    """The timetable as the scheduler sees it: the serialized DAG's (on 3.x the SDK class becomes the core one)."""
    serialization = pytest.importorskip("airflow.serialization.serialized_objects")
    codec = getattr(serialization, "DagSerialization", None) or serialization.SerializedDAG
    return codec.from_dict(codec.to_dict(dag)).timetable


def test_schedule_processes_the_day_whose_logs_are_complete(dag):
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    timetable = scheduled_timetable(dag)
    assert isinstance(timetable, CronDataIntervalTimetable)
    utc = pendulum.UTC
    day_before = DataInterval(pendulum.datetime(2024, 11, 24, tz=utc), pendulum.datetime(2024, 11, 25, tz=utc))
    info = timetable.next_dagrun_info(
        last_automated_data_interval=day_before,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    # The run for 2024-11-25 fires at 00:00 UTC on the 26th, once that day's logs are complete...
    assert info.run_after == pendulum.datetime(2024, 11, 26, tz=utc)
    # ...and its logical date, hence {{ ds }}, is the 25th.
    assert info.logical_date == pendulum.datetime(2024, 11, 25, tz=utc)
    assert info.data_interval == DataInterval(pendulum.datetime(2024, 11, 25, tz=utc), info.run_after)


def test_one_date_at_a_time_and_no_automatic_catchup(dag):
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.max_active_tis_per_dag == 1, task.task_id  # also binds backfills
    assert dag.template_undefined is jinja2.StrictUndefined


def test_retries_with_backoff(dag):
    for task in dag.tasks:
        assert task.retries == 3, task.task_id
        assert task.retry_delay == timedelta(seconds=60)
        assert task.retry_exponential_backoff  # True on 2.x; 3.x serializes True as the multiplier 2.0
        assert task.max_retry_delay == timedelta(minutes=30)
        assert task.execution_timeout == timedelta(hours=2)
        assert task.retry_args["stop"] is not None and task.retry_args["retry"] is not None


def test_every_stage_alerts_on_failure_in_the_log_and_through_sns(dag):
    notifiers = []
    for task in dag.tasks:
        log_line, sns = task.on_failure_callback
        # By name: the DagBag loads the file as a module of its own, so this is not `adrec_daily.notify_failure`.
        assert log_line.__name__ == "notify_failure", task.task_id
        assert type(sns) is SnsNotifier, task.task_id  # the amazon provider's, not hand-written HTTP
        assert sns.target_arn == "{{ var.value.adrec_alert_topic_arn }}"  # the topic is configuration, never code
        assert sns.aws_conn_id == "aws_default"
        assert "{{ ti.task_id }}" in sns.subject and "{{ ds }}" in sns.subject
        assert "{{ exception }}" in sns.message and "infra/README.md#adrec_daily-task-failed" in sns.message
        notifiers.append(sns)
    assert len({id(n) for n in notifiers}) == len(TASKS)  # rendering mutates a notifier: one per task


def run_deadline_of(dag):
    deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert len(deadlines) == 1
    return deadlines[0]


def test_a_run_that_misses_its_deadline_notifies_sns(dag):
    """Airflow 3 dropped SLAs; its deadline alert is the replacement: a run not done 2 h after it was queued."""
    sdk = pytest.importorskip("airflow.sdk")
    deadline = run_deadline_of(dag)
    assert deadline.reference == sdk.DeadlineReference.DAGRUN_QUEUED_AT  # a backfilled old date is not "late"
    assert deadline.interval == timedelta(hours=2)
    assert type(deadline.callback) is sdk.SyncCallback  # on the executor: no triggerer runs on the host
    assert deadline.callback.path == "airflow.providers.amazon.aws.notifications.sns.SnsNotifier"
    kwargs = deadline.callback.kwargs
    assert kwargs["target_arn"] == TEST_TOPIC == os.environ["AIRFLOW_VAR_ADREC_ALERT_TOPIC_ARN"]
    assert kwargs["aws_conn_id"] == "aws_default"
    assert "{{ dag_run.dag_run_id }}" in kwargs["message"] and "#adrec_daily-deadline-missed" in kwargs["message"]


def test_the_deadline_survives_serialization(dag):
    """The scheduler, which checks deadlines, works on the serialized DAG (where an alert is plain data)."""
    serialization = pytest.importorskip("airflow.serialization.serialized_objects")
    codec = serialization.DagSerialization
    (restored,) = codec.from_dict(codec.to_dict(dag)).deadline
    assert restored["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}
    assert restored["interval"]["__data__"] == 7200.0
    callback = restored["callback"]["__data__"]
    original = run_deadline_of(dag).callback
    assert callback["path"] == original.path and callback["kwargs"] == original.kwargs


def test_the_alerts_name_runbook_entries_that_exist(dag):
    sys.path.insert(0, str(REPO / "scripts"))
    from md_check import scan

    anchors = scan((REPO / "infra" / "README.md").read_text())[2]
    texts = [task.on_failure_callback[1].message for task in dag.tasks] + [run_deadline_of(dag).callback.kwargs["message"]]
    named = {m for text in texts for m in re.findall(r"infra/README\.md#([\w-]+)", text)}
    assert named == {"adrec_daily-task-failed", "adrec_daily-deadline-missed"}
    assert named <= anchors


def test_backoff_survives_serialization(dag):
    """The scheduler works on the serialized DAG; on Airflow 3 a multiplier of 1.0 would mean no backoff at all."""
    serialization = pytest.importorskip("airflow.serialization.serialized_objects")
    if not hasattr(serialization, "DagSerialization"):
        pytest.skip("Airflow 2.x: retry_exponential_backoff is a bool there")
    codec = serialization.DagSerialization
    task = codec.from_dict(codec.to_dict(dag)).get_task("filter_data")
    assert task.retry_exponential_backoff == 2.0
    assert task.max_active_tis_per_dag == 1


@pytest.mark.parametrize("task_id", TASKS)
def test_each_stage_is_an_http_call_for_ds(dag, task_id):
    task = dag.get_task(task_id)
    assert isinstance(task, HttpOperator)
    assert task.http_conn_id == "adrec_api"
    assert task.method == "POST"
    assert task.endpoint == f"/jobs/{task_id}?wait={WAIT}"
    assert "{{ ds }}" in task.data
    assert task.deferrable is False
    assert task.extra_options["check_response"] is False  # 202/409 are judged by the operator
    connect, read = task.extra_options["timeout"]
    assert WAIT < read < APP_RUNNER_CUT and connect < read
    assert not any(key.lower() == "authorization" for key in task.headers)


def test_ds_renders_and_a_missing_logical_date_fails_loudly(dag):
    task = dag.get_task("top_ctr")
    env = dag.get_template_env()
    assert env.from_string(task.data).render(ds="2024-11-25") == '{"date": "2024-11-25"}'
    with pytest.raises(jinja2.UndefinedError):
        env.from_string(task.data).render()  # a 3.x run without a logical date has no `ds`


def test_no_token_in_the_code():
    source = (DAGS / "adrec_daily.py").read_text()
    # A bearer token literal would be `Bearer <chars>` with no template or f-string brace after it.
    assert not re.search(r"Bearer\s+[A-Za-z0-9._~+/=-]{6,}", source)
    assert "JOBS_TOKENS" not in source

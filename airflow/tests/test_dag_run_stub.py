"""`airflow dags test adrec_daily <date>` end to end against the loopback stub of the jobs API."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from adrec_stub import StubJobsApi
from sns_stub import TEST_TOPIC, StubSns
from support import TASKS, dags_test, http_connection, output_of, run_states, tasks_test

TOKEN = "stub-dagrun-token-51c2e0"


def test_dag_run_drives_every_stage_in_order(airflow_db):
    day = "2024-11-21"
    # filter_data and top_ctr are slow (202, then a 202 poll, then 200), and only top_ctr reports its progress;
    # top_product is already running (409 -> follow).
    behaviour = {"filter_data": "slow_no_progress", "top_ctr": "slow", "top_product": "conflict"}
    with StubJobsApi(TOKEN, behaviour) as api:
        result = dags_test(day, http_connection(api.port, TOKEN, token_in="extra"))

    assert result.returncode == 0, output_of(result)
    state, tasks = run_states(airflow_db, day)
    assert state == "success", output_of(result)
    assert tasks == {task: ("success", 1) for task in TASKS}

    posts = [r["path"].removeprefix("/jobs/") for r in api.posts()]
    assert posts[0] == "filter_data" and sorted(posts[1:3]) == ["top_ctr", "top_product"] and posts[3] == "db_writing"
    assert all(r["body"] == f'{{"date": "{day}"}}' and r["query"] == {"wait": "100"} for r in api.posts())
    polls = [r for r in api.requests if r["method"] == "GET"]
    assert len(polls) == 5  # two for each slow run, one for the run the 409 named
    assert all(r["path"].startswith("/jobs/runs/") and r["query"] == {"wait": "100"} for r in polls)
    assert {r["auth"] for r in api.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in result.stdout + result.stderr  # never in the task logs

    # Each answer for a running run is logged: its progress, or that it reported none.
    output = result.stdout + result.stderr
    run = r"run [0-9a-f]{8}…: "
    assert re.search(run + r"top_ctr 412\.3 of 1,130\.0 MB scanned \(36%\), 4,200,000 rows", output), output_of(result)
    assert re.search(run + r"top_ctr 1,130\.0 of 1,130\.0 MB scanned \(100%\), 11,512,004 rows", output)
    assert len(re.findall(run + "filter_data running, no progress reported", output)) == 2, output_of(result)


def test_dag_run_fails_when_the_service_refuses_the_token(airflow_db):
    day = "2024-11-22"
    with StubJobsApi(TOKEN, {}) as api, StubSns() as sns:
        result = dags_test(
            day,
            http_connection(api.port, "a-revoked-token-0000", token_in="password"),
            ADREC_AIRFLOW_RETRIES="1",
            ADREC_AIRFLOW_RETRY_DELAY_SECONDS="1",
            AIRFLOW_CONN_AWS_DEFAULT=sns.connection,
        )

    assert result.returncode != 0, output_of(result)
    state, tasks = run_states(airflow_db, day)
    assert state == "failed", output_of(result)
    assert tasks["filter_data"] == ("failed", 2)  # the first try and one retry
    assert {tasks[t][0] for t in ("top_ctr", "top_product", "db_writing")} == {"upstream_failed"}
    assert [r["path"] for r in api.requests] == ["/jobs/filter_data"] * 2
    assert "401 unauthorized" in result.stdout + result.stderr
    assert "a-revoked-token-0000" not in result.stdout + result.stderr
    # The final failure (not the retry) raises one alert line.
    alerts = re.findall(r"adrec alert: adrec_daily\.filter_data failed for ds 2024-11-22 \(try (\d)\): [^\n]*",
                        result.stdout + result.stderr)
    assert alerts == ["2"], output_of(result)
    assert re.search(r"\(try 2\): AirflowException: jobs API refused the trigger: 401 unauthorized: [^|\n]+ \| log: "
                     r"http\S+/dags/adrec_daily/runs/\S+/tasks/filter_data\?try_number=2", result.stdout), output_of(result)
    # ...and one SNS message, from the Variable's topic, through the provider's notifier.
    assert [(c["TargetArn"], c["Subject"], c["signed"]) for c in sns.published] == [
        (TEST_TOPIC, f"adrec: filter_data failed for {day}", True)], output_of(result)
    (text,) = sns.messages()
    assert text.startswith(f"adrec alert: adrec_daily.filter_data failed for ds {day} (try 2): ")
    assert "401 unauthorized" in text and "a-revoked-token-0000" not in text
    assert re.search(r"\| log: http\S+try_number=2 \| runbook: infra/README\.md#adrec_daily-task-failed$", text), text


def today_utc() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def test_dag_run_refuses_a_day_that_is_not_over(airflow_db):
    day = today_utc()
    with StubJobsApi(TOKEN, {}) as api, StubSns() as sns:
        result = dags_test(day, http_connection(api.port, TOKEN), ADREC_AIRFLOW_RETRIES="1",
                           ADREC_AIRFLOW_RETRY_DELAY_SECONDS="1", AIRFLOW_CONN_AWS_DEFAULT=sns.connection)

    assert result.returncode != 0, output_of(result)
    state, tasks = run_states(airflow_db, day)
    assert state == "failed", output_of(result)
    assert tasks["filter_data"] == ("failed", 1)  # no retry: waiting minutes would not end the day
    assert {tasks[t][0] for t in ("top_ctr", "top_product", "db_writing")} == {"upstream_failed"}
    assert api.requests == []  # nothing triggered
    output = result.stdout + result.stderr
    assert f"refusing to process {day}: the day is not over in UTC; logs would be partial" in output, output_of(result)
    assert f"adrec alert: adrec_daily.filter_data failed for ds {day} (try 1)" in output
    assert [c["Subject"] for c in sns.published] == [f"adrec: filter_data failed for {day}"], output_of(result)


def test_a_single_task_run_refuses_a_day_that_is_not_over_too(airflow_db):
    """`airflow tasks test` ignores upstream tasks, which is why each stage checks and not a gate task."""
    day = today_utc()
    with StubJobsApi(TOKEN, {}) as api:
        result = tasks_test("db_writing", day, http_connection(api.port, TOKEN))

    # Airflow 3.3.2's `tasks test` exits 0 even when the task fails, so the log is what tells.
    output = result.stdout + result.stderr
    assert "Task failed with exception" in output, output_of(result)
    assert f"refusing to process {day}: the day is not over in UTC" in output, output_of(result)
    assert api.requests == []

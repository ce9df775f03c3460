"""adrec_daily: run the adrec pipeline for one day, one HTTP call to the service per stage.

`filter_data >> [top_ctr, top_product] >> db_writing`. Each stage is an `AdrecJobOperator` (an `HttpOperator`):
`POST /jobs/<stage>?wait=100` with `{"date": "{{ ds }}"}`, then, while the run is still running (202, or 409
for a run of the same stage and date already under way: follow its `Location`), `GET /jobs/runs/<id>?wait=100`.
The stage succeeds only when the run succeeded. No request lasts more than 110 s: App Runner cuts at 120 s.

`ds` is the day whose logs are complete: the run that fires at 00:00 UTC on D+1 processes D, on Airflow 3 as
on 2.x (`CronDataIntervalTimetable`; on Airflow 3 `@daily` would fire on D for D itself).
Base URL and token come from the connection `adrec_api` (`AIRFLOW_CONN_ADREC_API`), see airflow/README.md.

Concurrency: one date at a time (`max_active_runs=1`) and each stage on one date at a time
(`max_active_tis_per_dag=1`; that one also binds backfills, which on Airflow 3 ignore `max_active_runs`:
run `airflow backfill create ... --max-active-runs 1`). The service has 2 vCPUs and runs each job in-process,
and App Runner throttles its CPU between requests, so parallel dates would only slow each other down and push
the long-polls towards the 120 s cut. Within a date top_ctr and top_product run side by side (disjoint
inputs), which `parallelism = 2` on the Airflow host allows. Outputs are keyed by date and every job is
idempotent, so catchup, backfills and re-runs never touch another date.

A day that is not over is refused: a stage whose date is today or later in UTC fails (no retries) before it sends
anything, since its logs are still being written and `db_writing` would publish a partial day as the latest.
The scheduled run for D fires at 00:00 UTC on D+1, so only manual and other odd runs hit this.
The check is in every stage's `execute()`, not in a gate task upstream of them: `airflow tasks test adrec_daily
db_writing <date>` runs one task "without checking for dependencies", and the UI can run a task ignoring its
upstream or mark a gate succeeded, so only the stage itself stands between a date and the POST for it.

While a run is running, each answer (the POST's 202, every long-poll's 202) logs one line with the run's
`progress` as the service reports it (stage, step of steps for `pipeline`, bytes scanned, rows), or says there is none.

A task that fails for good (not one that will be retried) calls `notify_failure`: one log line with the dag, task,
ds, try, error and log URL, also POSTed as `{"text": line}` to `ADREC_AIRFLOW_ALERT_WEBHOOK` when that is set
(a Slack incoming webhook, say). `send_alert` is the one function to change for another channel (airflow/README.md).
It also publishes the alert to the SNS topic in the Airflow Variable `adrec_alert_topic_arn` (the amazon provider's
`SnsNotifier`; on AWS the topic of the stack's alarms, set by the EC2 host as AIRFLOW_VAR_ADREC_ALERT_TOPIC_ARN).
A run not finished `RUN_DEADLINE` (2 h) after it was queued publishes to the same topic: Airflow 3 dropped SLAs, and
its deadline alert (3.1+) runs the notifier on the executor. Its topic is read when the file is parsed, from that
same environment variable: a deadline callback renders its templates without `var`. Under `airflow dags test` the
deadline is left out (see UNDER_DAGS_TEST).

Env knobs, read when the file is parsed (defaults are the production ones): `ADREC_AIRFLOW_RETRIES` (3),
`ADREC_AIRFLOW_RETRY_DELAY_SECONDS` (60, doubled per retry, at most 30 min), `ADREC_AIRFLOW_RUN_DEADLINE_SECONDS`
(7200). Read when a task fails:
`ADREC_AIRFLOW_ALERT_WEBHOOK` (unset: the alert is only logged).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import jinja2
import pendulum
import requests
import tenacity
from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException
from airflow.providers.http.hooks.http import HttpHook
from airflow.providers.http.operators.http import HttpOperator

try:
    from airflow.sdk import DAG  # Airflow 3
except ImportError:  # Airflow 2.x
    from airflow import DAG
try:
    from airflow.sdk import CronDataIntervalTimetable  # Airflow 3 (3.3.2: airflow.sdk.definitions.timetables.interval)
except ImportError:  # Airflow 2.x, or a task SDK without timetables
    from airflow.timetables.interval import CronDataIntervalTimetable
try:
    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback  # Airflow 3.1+
except ImportError:  # older: no deadline alerts (and 3.0 has no SLAs either)
    DeadlineAlert = DeadlineReference = SyncCallback = None

# Server-side wait per request; the service clamps it to 110 s.
WAIT_SECONDS = 100
# requests' (connect, read) timeouts: read > WAIT_SECONDS so a long-poll answers first, and < 120 s (App Runner).
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 110
# If the server answers 202 sooner than this (it ignored `wait`), sleep the rest: no busy polling.
MIN_POLL_INTERVAL_SECONDS = 2.0

# In-task retries of one request when the service cannot be reached or does not answer in time.
# Safe for the POST too: a re-sent trigger of a run that did start gets 409 and follows that run.
RETRY_ARGS: dict[str, Any] = {
    "wait": tenacity.wait_exponential(multiplier=2, min=2, max=30),
    "stop": tenacity.stop_after_attempt(4),
    "retry": tenacity.retry_if_exception_type((requests.ConnectionError, requests.Timeout)),
    "reraise": True,
}

# Answers to the POST that no retry can mend: the request itself is wrong (bad date, unknown task).
_PERMANENT_POST_ERRORS = frozenset({400, 404})
_RUN_PATH = re.compile(r"^/jobs/runs/[0-9A-Za-z-]+$")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _describe_error(response: requests.Response) -> str:
    """`401 unauthorized: …` from the service's `{"error":{"code","message"}}` body (never a header)."""
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{response.status_code} {error.get('code', '?')}: {error.get('message', '')}"
    return f"{response.status_code} {response.reason or ''}: {response.text[:200]!r}"


def _run_of(response: requests.Response) -> dict[str, Any]:
    run = _json(response)
    if not isinstance(run, dict) or not run.get("id") or not run.get("status"):
        raise AirflowException(f"jobs API answered {response.status_code} without a run: {response.text[:200]!r}")
    return run


def _poll_path(run: dict[str, Any]) -> str:
    path = (run.get("links") or {}).get("self") or f"/jobs/runs/{run['id']}"
    if not _RUN_PATH.match(path):
        raise AirflowException(f"jobs API gave an unexpected run link {path!r}")
    return path


def next_step(response: requests.Response, *, post: bool) -> tuple[str, Any]:
    """Classify one answer of the jobs API.

    Returns `("done", run)` when the run has finished (succeeded or failed: `run_succeeded` judges),
    or `("poll", "/jobs/runs/<id>")` when it is still running, including the run a 409 points at.
    Raises on any other answer; `AirflowFailException` (no Airflow retry) when the POST itself is wrong.
    """
    code = response.status_code
    if code in (200, 202):
        run = _run_of(response)
        if code == 200 and run["status"] != "running":
            return "done", run
        return "poll", _poll_path(run)
    if code == 409 and post:
        location = response.headers.get("Location", "")
        if _RUN_PATH.match(location):
            return "poll", location
        found = _UUID.search(response.text)
        if found:
            return "poll", f"/jobs/runs/{found.group(0)}"
        raise AirflowException(f"jobs API answered 409 without naming the running run: {_describe_error(response)}")
    message = f"jobs API refused the {'trigger' if post else 'poll'}: {_describe_error(response)}"
    if post and code in _PERMANENT_POST_ERRORS:
        raise AirflowFailException(message)
    raise AirflowException(message)  # 401/403 (token), 5xx, 404 on a poll: Airflow's retries may mend these


def run_succeeded(response: requests.Response, ds: str | None = None) -> bool:
    """`response_check` for the final answer: True for a succeeded run of date `ds`, else an error naming the run.

    Airflow passes `ds` from the task's context, so a run of another date (say, a 409 pointing astray) never passes.
    """
    run = _run_of(response)
    if ds is not None and run.get("date") != ds:
        raise AirflowException(f"adrec run {run['id']} is for {run.get('date')}, not {ds}")
    if run["status"] == "succeeded":
        return True
    raise AirflowException(
        f"adrec run {run['id']} ({run.get('task')} for {run.get('date')}) ended {run['status']}: {run.get('error')}"
    )


def run_summary(response: requests.Response) -> dict[str, Any]:
    """`response_filter`: the finished run is the task's XCom (ids, row counts, timestamps)."""
    return _run_of(response)


def _has_header(headers: dict[str, Any], name: str) -> bool:
    return any(key.lower() == name.lower() for key in headers)


def partial_day_refusal(day: Any, now: datetime) -> str | None:
    """Why a stage must not run for `day` at `now`: the day is not over in UTC. None when it may run.

    A `day` that is not a date gets None: the service answers that with a 400 naming the format.
    """
    try:
        first = date.fromisoformat(day)
    except (TypeError, ValueError):
        return None
    today = now.astimezone(timezone.utc).date()
    if first < today:
        return None
    return (
        f"refusing to process {first}: the day is not over in UTC; logs would be partial "
        f"(it is {now.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC; run it after {first + timedelta(days=1)} 00:00 UTC)"
    )


def _date_of(data: Any) -> Any:
    """The date in the rendered request body `{"date": "<ds>"}` (a JSON string or a dict)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return data.get("date") if isinstance(data, Mapping) else None


def _count(value: Any) -> int | float | None:
    """A non-negative number from the progress report, else None (missing, null or of the wrong type)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return value


def progress_line(run: dict[str, Any]) -> str:
    """One line for a running run, e.g. `run 3f2a9c1d…: filter_data (1/4) 412.3 of 1,130.0 MB scanned (36%),
    4,200,000 rows`, from its `progress` (any key, or the whole field, may be missing or null).

    The step is left out for a run of one step (a single stage); MB are 10^6 bytes.
    """
    head = f"run {str(run.get('id', '?'))[:8]}…: "
    progress = run.get("progress")
    stage = progress.get("stage") if isinstance(progress, Mapping) else None
    name = stage if isinstance(stage, str) and stage else run.get("task") or "run"
    if not isinstance(progress, Mapping) or not progress:
        return f"{head}{name} running, no progress reported"

    step, steps = _count(progress.get("step")), _count(progress.get("steps"))
    where = ""
    if step is not None and steps is not None and steps > 1:
        where = f" ({step}/{steps})"
    elif step is not None and steps is None:
        where = f" (step {step})"
    parts = []
    scanned, total = _count(progress.get("bytes_scanned")), _count(progress.get("bytes_total"))
    if scanned is not None and total is not None:
        share = f" ({int(100 * scanned / total)}%)" if total else ""
        parts.append(f"{scanned / 1e6:,.1f} of {total / 1e6:,.1f} MB scanned{share}")
    elif scanned is not None:
        parts.append(f"{scanned / 1e6:,.1f} MB scanned")
    elif total is not None:
        parts.append(f"{total / 1e6:,.1f} MB to scan")
    rows = _count(progress.get("rows"))
    if rows is not None:
        parts.append(f"{rows:,} rows")
    if not where and not parts:
        return f"{head}{name} running"
    return f"{head}{name}{where}" + (f" {', '.join(parts)}" if parts else "")


class AdrecJobOperator(HttpOperator):
    """Trigger adrec job `job` for `{{ ds }}` and follow the run until it finishes.

    A subclass and not `pagination_function`: in provider http 6.3.0 the paginated calls reuse the operator's
    hook, so its method (POST), and merge the operator's `data` (the date) into every call, while the polls
    must be plain GETs on the run's URL. Everything else is `HttpOperator`'s: the connection, the templated
    fields, `retry_args` for connection errors, `response_check` and `response_filter`.

    The token comes from the connection: either its extra holds the header `{"Authorization": "Bearer <token>"}`
    (the hook sends extras as headers), or its password holds the bare token (with no login), sent here as a
    bearer header, outside the templated fields.
    """

    ui_color = "#9ecae1"

    def __init__(
        self,
        *,
        job: str,
        http_conn_id: str = "adrec_api",
        wait_seconds: int = WAIT_SECONDS,
        min_poll_interval: float = MIN_POLL_INTERVAL_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            http_conn_id=http_conn_id,
            method="POST",
            endpoint=f"/jobs/{job}?wait={wait_seconds}",
            data='{"date": "{{ ds }}"}',
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            # check_response=False: 202 and 409 are part of the protocol; next_step judges every status.
            extra_options={"timeout": (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS), "check_response": False},
            response_check=run_succeeded,
            response_filter=run_summary,
            retry_args=RETRY_ARGS,
            deferrable=False,  # the POST must not be replayed by a restarting triggerer
            **kwargs,
        )
        self.job = job
        self.wait_seconds = wait_seconds
        self.min_poll_interval = min_poll_interval

    def _auth_headers(self, hook: HttpHook) -> dict[str, str]:
        conn = hook.get_connection(self.http_conn_id)
        if _has_header(conn.extra_dejson, "Authorization") or conn.login:
            return {}  # the hook sends the extra header (or Basic auth for a login)
        if conn.password:
            return {"Authorization": f"Bearer {conn.password}"}
        self.log.warning("connection %r carries no token; the jobs API will answer 401", self.http_conn_id)
        return {}

    def execute(self, context: Any) -> Any:
        # First of all: the date in the body about to be sent (rendered from {{ ds }}) must be a day that is over.
        refusal = partial_day_refusal(_date_of(self.data), datetime.now(timezone.utc))
        if refusal:
            raise AirflowFailException(refusal)  # no Airflow retry: minutes later the day is still going

        trigger = self.hook  # POST, on the operator's connection
        poll = HttpHook(
            method="GET",
            http_conn_id=self.http_conn_id,
            auth_type=self.auth_type,
            tcp_keep_alive=self.tcp_keep_alive,
            tcp_keep_alive_idle=self.tcp_keep_alive_idle,
            tcp_keep_alive_count=self.tcp_keep_alive_count,
            tcp_keep_alive_interval=self.tcp_keep_alive_interval,
        )
        headers = {**self.headers, **self._auth_headers(trigger)}

        self.log.info("POST %s %s", self.endpoint, self.data)
        response = trigger.run_with_advanced_retry(
            self.retry_args, self.endpoint, self.data, headers, self.extra_options
        )
        step, value = next_step(response, post=True)
        while step == "poll":
            if response.status_code == 409:
                self.log.info("%s for this date is already running: following %s", self.job, value)
            else:
                self.log.info("%s", progress_line(_run_of(response)))
            started = time.monotonic()
            response = poll.run_with_advanced_retry(
                self.retry_args, f"{value}?wait={self.wait_seconds}", None, headers, self.extra_options
            )
            step, value = next_step(response, post=False)
            if step == "poll":
                time.sleep(max(0.0, self.min_poll_interval - (time.monotonic() - started)))
        self.log.info("run %s finished: %s", value.get("id"), value.get("status"))
        return self.process_response(context=context, response=response)


_ALERT_ERROR_CHARS = 500
_alert_log = logging.getLogger("airflow.task.adrec_daily")


def failure_line(context: Mapping[str, Any]) -> str:
    """The alert for a failed task: dag, task, ds, try, error (one line, at most 500 characters) and log URL."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None) or "?"
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", None) or "?"
    error = context.get("exception")
    if isinstance(error, BaseException):
        error = f"{type(error).__name__}: {error}"
    error = " ".join(str(error).split()) if error else "error unknown"
    if len(error) > _ALERT_ERROR_CHARS:
        error = error[: _ALERT_ERROR_CHARS - 1] + "…"
    try:
        log_url = getattr(ti, "log_url", None) or "?"
    except Exception:  # a property that needs config or a DB this process lacks
        log_url = "?"
    try_number = getattr(ti, "try_number", None)
    return (
        f"adrec alert: {dag_id}.{task_id} failed for ds {context.get('ds') or '?'} "
        f"(try {'?' if try_number is None else try_number}): {error} | log: {log_url}"
    )


def send_alert(line: str, log: Any = _alert_log) -> None:
    """Deliver an alert beyond the task log. Replace this function to page, mail or chat some other way.

    By default: POST `{"text": line}` to `ADREC_AIRFLOW_ALERT_WEBHOOK` if it is set (Slack, Mattermost and Google
    Chat incoming webhooks take that body). A broken channel is logged, never raised: the task has failed already.
    The URL is a secret (Slack's carries its token), so it never goes into a log.
    """
    url = os.environ.get("ADREC_AIRFLOW_ALERT_WEBHOOK")
    if not url:
        return
    try:
        requests.post(url, json={"text": line}, timeout=(5, 10)).raise_for_status()
    except requests.RequestException as error:
        status = getattr(error.response, "status_code", None)
        log.warning("alert webhook failed (%s%s)", type(error).__name__, f", HTTP {status}" if status else "")


def notify_failure(context: Mapping[str, Any]) -> None:
    """`on_failure_callback` of every stage: runs once a task has failed for good (retries use none)."""
    task = context.get("task")
    log = getattr(task, "log", None) or _alert_log
    line = failure_line(context)
    log.error("%s", line)
    send_alert(line, log)


# The SNS side of the alerts: the topic is the Airflow Variable adrec_alert_topic_arn; aws_default gives the
# region (the EC2 host's instance role gives the credentials).
ALERT_TOPIC_VARIABLE = "adrec_alert_topic_arn"
AWS_CONN_ID = "aws_default"
RUN_DEADLINE = timedelta(seconds=float(os.environ.get("ADREC_AIRFLOW_RUN_DEADLINE_SECONDS", "7200")))
# Airflow 3.3.2's `airflow dags test` (DAG.test) cannot mark a run of a DAG with a deadline successful: it reads the
# alerts from an in-memory copy of the DAG where they are not yet database ids ("'dict' object has no attribute
# 'hex'" in DeadlineAlertModel.get_by_id). Runs the scheduler makes are unaffected, and a `dags test` run is watched
# by whoever started it, so the deadline is left out there.
UNDER_DAGS_TEST = sys.argv[1:3] == ["dags", "test"]
RUNBOOK = "infra/README.md#adrec_daily-"  # + task-failed / deadline-missed


def sns_on_failure() -> SnsNotifier:
    """A stage's SNS alert, rendered when the task fails: the topic from the Variable, at that moment.

    One per task: a notifier renders its fields in place, so a shared one would keep the first task's text.
    """
    return SnsNotifier(
        aws_conn_id=AWS_CONN_ID,
        target_arn="{{ var.value.%s }}" % ALERT_TOPIC_VARIABLE,
        subject="adrec: {{ ti.task_id }} failed for {{ ds }}",
        message=(
            "adrec alert: {{ ti.dag_id }}.{{ ti.task_id }} failed for ds {{ ds }} (try {{ ti.try_number }}): "
            "{{ exception }} | log: {{ ti.log_url }} | runbook: " + RUNBOOK + "task-failed"
        ),
    )


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def run_deadline() -> Any:
    """The deadline alert of every run (Airflow 3.1+): not finished RUN_DEADLINE after it was queued.

    Its callback runs on the executor with a context of `dag_run` and `deadline` only (no `var`), so the topic is
    taken now, when the file is parsed, from the Variable's environment form.
    """
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=RUN_DEADLINE,
        callback=SyncCallback(
            SnsNotifier,
            kwargs={
                "aws_conn_id": AWS_CONN_ID,
                "target_arn": os.environ.get(f"AIRFLOW_VAR_{ALERT_TOPIC_VARIABLE.upper()}", ""),
                "subject": "adrec: a run of adrec_daily missed its deadline",
                "message": (
                    "adrec alert: adrec_daily run {{ dag_run.dag_run_id }} (ds {{ dag_run.logical_date }}) is not "
                    "finished at its deadline {{ deadline.deadline_time }}, %s after it was queued | runbook: "
                    "%sdeadline-missed" % (_duration(RUN_DEADLINE), RUNBOOK)
                ),
            },
        ),
    )


RETRIES = int(os.environ.get("ADREC_AIRFLOW_RETRIES", "3"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("ADREC_AIRFLOW_RETRY_DELAY_SECONDS", "60")))

with DAG(
    dag_id="adrec_daily",
    description="adrec pipeline for the previous day, driven over the jobs API",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 11, 20, tz="UTC"),
    # Scheduling starts at the latest complete day; earlier days go through `airflow backfill create`.
    catchup=False,
    max_active_runs=1,
    # A run without a logical date (possible on Airflow 3) must fail, not POST {"date": ""}.
    template_undefined=jinja2.StrictUndefined,
    default_args={
        "owner": "adrec",
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        # True, not a multiplier: 2.x takes a bool, 3.x reads True as 2.0 (delay doubles per retry).
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        # Bounds the long-poll loop; a day of logs takes seconds to minutes.
        "execution_timeout": timedelta(hours=2),
        "max_active_tis_per_dag": 1,
    },
    # Not passed at all where there are no deadline alerts: Airflow 2.x's DAG takes no `deadline`.
    **({"deadline": run_deadline()} if DeadlineAlert is not None and not UNDER_DAGS_TEST else {}),
    tags=["adrec"],
    doc_md=__doc__,
) as dag:
    stages = {
        job: AdrecJobOperator(task_id=job, job=job, on_failure_callback=[notify_failure, sns_on_failure()])
        for job in ("filter_data", "top_ctr", "top_product", "db_writing")
    }
    filter_data, top_ctr, top_product, db_writing = stages.values()

    filter_data >> [top_ctr, top_product] >> db_writing

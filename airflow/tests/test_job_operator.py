"""The jobs-API logic of AdrecJobOperator: first with fake responses, then `execute` against the loopback stub."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from types import SimpleNamespace

import adrec_daily
import pytest
import requests
import structlog.testing
import tenacity
from adrec_daily import (
    AdrecJobOperator,
    failure_line,
    next_step,
    notify_failure,
    partial_day_refusal,
    progress_line,
    run_succeeded,
    run_summary,
)
from adrec_stub import StubJobsApi
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException
from support import TASKS, http_connection

RUN_ID = "0b6f4d8e-8d7a-4c53-9a51-2f1f7b0c8e11"
TOKEN = "stub-token-7f3a9c"


def fake(status: int, body=None, headers=None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    response._content = (body if isinstance(body, str) else json.dumps(body)).encode() if body is not None else b""
    return response


def run(status: str, **fields) -> dict:
    return {"id": RUN_ID, "task": "top_ctr", "date": "2024-11-25", "status": status, "error": None,
            "links": {"self": f"/jobs/runs/{RUN_ID}"}, **fields}


def error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def operator(job: str) -> AdrecJobOperator:
    op = AdrecJobOperator(task_id=f"t_{job}", job=job, min_poll_interval=0.05)
    op.data = '{"date": "2024-11-25"}'  # what Airflow renders from {{ ds }}
    return op


@pytest.fixture
def stub(monkeypatch):
    def start(behaviour, token_in="extra", token=TOKEN):
        api = StubJobsApi(TOKEN, behaviour).__enter__()
        started.append(api)
        monkeypatch.setenv("AIRFLOW_CONN_ADREC_API", http_connection(api.port, token, token_in=token_in))
        return api

    started: list[StubJobsApi] = []
    yield start
    for api in started:
        api.__exit__(None, None, None)


# --- one answer at a time -----------------------------------------------------------------------------------

@pytest.mark.parametrize("post", [True, False])
def test_finished_run_is_done(post):
    assert next_step(fake(200, run("succeeded")), post=post) == ("done", run("succeeded"))
    assert next_step(fake(200, run("failed")), post=post)[0] == "done"


@pytest.mark.parametrize("post", [True, False])
def test_running_run_is_polled_on_its_link(post):
    assert next_step(fake(202, run("running")), post=post) == ("poll", f"/jobs/runs/{RUN_ID}")
    without_link = {k: v for k, v in run("running").items() if k != "links"}
    assert next_step(fake(202, without_link), post=post) == ("poll", f"/jobs/runs/{RUN_ID}")


def test_conflict_follows_the_running_run():
    body = error("conflict", f"top_ctr for 2024-11-25 is already running as run {RUN_ID}")
    other = "/jobs/runs/5f0e7c1a-0000-4000-8000-000000000001"
    assert next_step(fake(409, body, {"Location": other}), post=True) == ("poll", other)
    # Without a Location header the run id in the message is enough.
    assert next_step(fake(409, body), post=True) == ("poll", f"/jobs/runs/{RUN_ID}")
    with pytest.raises(AirflowException, match="without naming"):
        next_step(fake(409, error("conflict", "busy")), post=True)


def test_auth_error_fails_but_may_be_retried():
    with pytest.raises(AirflowException, match="401 unauthorized: bad token") as caught:
        next_step(fake(401, error("unauthorized", "bad token")), post=True)
    assert not isinstance(caught.value, AirflowFailException)


@pytest.mark.parametrize("status,code", [(400, "bad_request"), (404, "not_found")])
def test_a_wrong_trigger_fails_without_retries(status, code):
    with pytest.raises(AirflowFailException, match=f"{status} {code}"):
        next_step(fake(status, error(code, "nope")), post=True)


def test_a_lost_run_or_a_server_error_fails_and_may_be_retried():
    for response, post in [(fake(404, error("not_found", "no run")), False),
                           (fake(500, "<html>oops</html>"), True),
                           (fake(503, error("unavailable", "db down")), False)]:
        with pytest.raises(AirflowException) as caught:
            next_step(response, post=post)
        assert not isinstance(caught.value, AirflowFailException)


def test_an_answer_without_a_run_fails():
    for response in [fake(200, "not json"), fake(200, {"status": "succeeded"}), fake(202, [])]:
        with pytest.raises(AirflowException, match="without a run"):
            next_step(response, post=True)
    with pytest.raises(AirflowException, match="unexpected run link"):
        next_step(fake(202, run("running", links={"self": "http://elsewhere/x"})), post=True)


def test_response_check_passes_only_a_succeeded_run():
    assert run_succeeded(fake(200, run("succeeded"))) is True
    with pytest.raises(AirflowException, match=f"run {RUN_ID} .top_ctr for 2024-11-25. ended failed: boom"):
        run_succeeded(fake(200, run("failed", error="boom")))
    assert run_summary(fake(200, run("succeeded", rows_out=7)))["rows_out"] == 7


def test_response_check_rejects_a_run_of_another_date():
    assert run_succeeded(fake(200, run("succeeded")), ds="2024-11-25") is True
    with pytest.raises(AirflowException, match="is for 2024-11-25, not 2024-11-26"):
        run_succeeded(fake(200, run("succeeded")), ds="2024-11-26")


# --- progress of a running run ---------------------------------------------------------------------------

SHORT = f"run {RUN_ID[:8]}…"


def test_progress_line_reads_like_a_sentence():
    progress = {"stage": "filter_data", "step": 1, "steps": 4, "bytes_scanned": 412_300_000,
                "bytes_total": 1_130_000_000, "rows": 4_200_000}
    assert progress_line(run("running", task="pipeline", progress=progress)) == (
        f"{SHORT}: filter_data (1/4) 412.3 of 1,130.0 MB scanned (36%), 4,200,000 rows")


@pytest.mark.parametrize("progress,line", [
    # A stage run has one step: nothing to count.
    ({"stage": "top_ctr", "step": 1, "steps": 1, "rows": 12}, "top_ctr 12 rows"),
    ({"stage": "top_ctr", "step": 2, "steps": None, "rows": None}, "top_ctr (step 2)"),
    ({"stage": None, "bytes_scanned": 123_456_789}, "top_ctr 123.5 MB scanned"),
    ({"bytes_scanned": 0, "bytes_total": 0}, "top_ctr 0.0 of 0.0 MB scanned"),
    ({"bytes_total": 2_000_000, "rows": 0}, "top_ctr 2.0 MB to scan, 0 rows"),
    ({"stage": "db_writing", "step": 4, "steps": 4}, "db_writing (4/4)"),
    # Wrong types count as missing, never as an error.
    ({"stage": 7, "step": "one", "steps": 4, "bytes_scanned": "lots", "rows": True}, "top_ctr running"),
])
def test_progress_line_tolerates_any_missing_part(progress, line):
    assert progress_line(run("running", progress=progress)) == f"{SHORT}: {line}"


@pytest.mark.parametrize("progress", [None, {}, [], "42%", "absent"])
def test_progress_line_without_progress(progress):
    answer = run("running") if progress == "absent" else run("running", progress=progress)
    assert progress_line(answer) == f"{SHORT}: top_ctr running, no progress reported"


def running_lines(logs) -> list[str]:
    return [entry["event"] for entry in logs if str(entry.get("event", "")).startswith("run ")]


def test_execute_logs_the_progress_of_each_answer_while_running(stub):
    api = stub({"pipeline": "slow"})
    with structlog.testing.capture_logs() as logs:
        result = operator("pipeline").execute({})
    short = f"run {result['id'][:8]}…"
    assert running_lines(logs) == [
        f"{short}: filter_data (1/4) 412.3 of 1,130.0 MB scanned (36%), 4,200,000 rows",  # the POST's 202
        f"{short}: top_ctr (2/4) 9,000 rows",  # the first poll's 202
        f"run {result['id']} finished: succeeded",
    ]
    assert [r["method"] for r in api.requests] == ["POST", "GET", "GET"]


def test_execute_tolerates_a_server_that_reports_no_progress(stub):
    stub({"top_ctr": "slow_no_progress"})
    with structlog.testing.capture_logs() as logs:
        result = operator("top_ctr").execute({})
    short = f"run {result['id'][:8]}…"
    assert running_lines(logs) == [f"{short}: top_ctr running, no progress reported"] * 2 + [
        f"run {result['id']} finished: succeeded"]


# --- a day that is not over -----------------------------------------------------------------------------------

def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_partial_day_refusal_names_the_day():
    message = partial_day_refusal("2026-12-01", utc(2026, 12, 1, 23, 59, 59))
    assert message.startswith("refusing to process 2026-12-01: the day is not over in UTC")
    assert "logs would be partial" in message
    assert partial_day_refusal("2026-12-05", utc(2026, 12, 1, 10)).startswith("refusing to process 2026-12-05")
    assert partial_day_refusal("2026-11-30", utc(2026, 12, 1, 0, 0, 0)) is None  # over since midnight UTC
    # It is UTC that counts: 20:00 in New York on the 1st is already the 2nd in UTC.
    new_york = timezone(timedelta(hours=-5))
    assert partial_day_refusal("2026-12-01", datetime(2026, 12, 1, 20, tzinfo=new_york)) is None
    # Not a date: the service's 400 says what is wrong.
    assert partial_day_refusal("", utc(2026, 12, 1)) is None


@pytest.mark.parametrize("task", TASKS)
def test_execute_refuses_today_before_any_request(stub, task):
    """Every stage checks, so a single-task run (`airflow tasks test ... db_writing <today>`) refuses as well."""
    api = stub({})
    today = datetime.now(timezone.utc).date().isoformat()
    op = operator(task)
    op.data = json.dumps({"date": today})
    with pytest.raises(AirflowFailException, match=f"refusing to process {today}: the day is not over in UTC"):
        op.execute({"ds": today})
    assert api.requests == []


# --- failure alerts -----------------------------------------------------------------------------------------

def failure_context(**overrides) -> dict:
    ti = SimpleNamespace(dag_id="adrec_daily", task_id="db_writing", try_number=2,
                         log_url="http://airflow.local/dags/adrec_daily/runs/r1/tasks/db_writing?try_number=2")
    context = {"ti": ti, "ds": "2024-11-25", "task": operator("db_writing"),
               "exception": AirflowException(f"adrec run {RUN_ID} (db_writing for 2024-11-25) ended failed:\n boom")}
    return {**context, **overrides}


def test_failure_line_says_what_failed_and_where_the_log_is():
    assert failure_line(failure_context()) == (
        f"adrec alert: adrec_daily.db_writing failed for ds 2024-11-25 (try 2): AirflowException: adrec run "
        f"{RUN_ID} (db_writing for 2024-11-25) ended failed: boom | log: "
        "http://airflow.local/dags/adrec_daily/runs/r1/tasks/db_writing?try_number=2")


def test_failure_line_tolerates_missing_parts():
    context = {"ti": SimpleNamespace(dag_id="adrec_daily", task_id="top_ctr"), "exception": "x" * 2000}
    line = failure_line(context)
    assert line.startswith("adrec alert: adrec_daily.top_ctr failed for ds ? (try ?): x")
    assert line.endswith("… | log: ?") and len(line) < 700
    assert failure_line({}).startswith("adrec alert: ?.? failed for ds ? (try ?): error unknown")


def test_notify_failure_logs_the_line(monkeypatch):
    monkeypatch.delenv("ADREC_AIRFLOW_ALERT_WEBHOOK", raising=False)
    context = failure_context()
    with structlog.testing.capture_logs() as logs:
        notify_failure(context)
    assert [(e["log_level"], e["event"]) for e in logs] == [("error", failure_line(context))]


class Receiver(BaseHTTPRequestHandler):
    got: list = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.got.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def test_notify_failure_posts_the_line_to_the_alert_webhook(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    Receiver.got = []
    try:
        monkeypatch.setenv("ADREC_AIRFLOW_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_address[1]}/hook/s3cr3t")
        context = failure_context()
        notify_failure(context)
    finally:
        server.shutdown()
        server.server_close()
    assert Receiver.got == [("/hook/s3cr3t", "application/json", {"text": failure_line(context)})]


def test_a_broken_alert_webhook_never_hides_the_failure(monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ADREC_AIRFLOW_ALERT_WEBHOOK", f"http://127.0.0.1:{port}/hook/s3cr3t")
    with structlog.testing.capture_logs() as logs:
        notify_failure(failure_context())  # does not raise
    assert [e["log_level"] for e in logs] == ["error", "warning"]
    assert "alert webhook" in logs[1]["event"] and "s3cr3t" not in json.dumps(logs, default=str)


# --- execute() against the stub service -------------------------------------------------------------------

@pytest.mark.parametrize("token_in", ["extra", "password"])
def test_execute_long_polls_a_slow_run_with_get(stub, token_in):
    api = stub({"top_ctr": "slow"}, token_in=token_in)
    result = operator("top_ctr").execute({"ds": "2024-11-25"})
    assert result["status"] == "succeeded" and result["task"] == "top_ctr"
    calls = [(r["method"], r["path"], r["query"].get("wait")) for r in api.requests]
    poll = f"/jobs/runs/{result['id']}"
    assert calls == [("POST", "/jobs/top_ctr", "100"), ("GET", poll, "100"), ("GET", poll, "100")]
    assert api.requests[0]["body"] == '{"date": "2024-11-25"}'
    assert {r["auth"] for r in api.requests} == {f"Bearer {TOKEN}"}


def test_execute_follows_a_conflict_to_the_running_run(stub):
    api = stub({"top_product": "conflict"})
    result = operator("top_product").execute({})
    assert result["status"] == "succeeded"
    assert [(r["method"], r["path"]) for r in api.requests] == [
        ("POST", "/jobs/top_product"), ("GET", f"/jobs/runs/{result['id']}")]


def test_execute_checks_the_run_is_for_the_task_date(stub):
    stub({})
    with pytest.raises(AirflowException, match="is for 2024-11-25, not 2024-11-24"):
        operator("top_ctr").execute({"ds": "2024-11-24"})  # the response check gets `ds` from the context


def test_execute_fails_on_a_failed_run(stub):
    stub({"db_writing": "fail"})
    with pytest.raises(AirflowException, match="ended failed: stub: the job failed"):
        operator("db_writing").execute({})


def test_execute_fails_on_a_refused_token(stub):
    api = stub({}, token="not-the-token")
    with pytest.raises(AirflowException, match="401 unauthorized"):
        operator("filter_data").execute({})
    assert len(api.requests) == 1  # in-task retries are for connection errors only


def test_execute_retries_then_fails_when_the_service_is_down(monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_ADREC_API", http_connection(port, TOKEN))
    attempts = []
    fast = dict(adrec_daily.RETRY_ARGS, wait=tenacity.wait_none(), before=lambda state: attempts.append(1))
    op = operator("filter_data")
    op.retry_args = fast
    with pytest.raises(requests.ConnectionError):
        op.execute({})
    assert len(attempts) == 4

"""A loopback stand-in for the adrec jobs API (DESIGN.md section 3), scripted per task, recording every request.

Behaviours, per task:
- "ok":       the POST answers 200 with a succeeded run.
- "slow":     the POST answers 202 (running); the first poll answers 202 again, the second 200 succeeded.
              Each 202 carries the run's `progress` (PROGRESS[task], one snapshot per answer); the finished
              run has `"progress": null`.
- "slow_no_progress": the same answers with no `progress` field at all (an older server).
- "conflict": the task and date are already running: the POST answers 409 + `Location` of that run,
              whose first poll answers 200 succeeded.
- "fail":     the POST answers 200 with a failed run.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import date as Date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

TASKS = ("filter_data", "top_ctr", "top_product", "db_writing", "pipeline")
MAX_WAIT = 110

# What a running run reports in `progress`, one snapshot per 202 answer (the POST's, then each poll's).
# A stage run has one step; a pipeline run names its current stage. Any key may be missing or null.
_STAGE_PROGRESS = [
    {"stage": None, "step": 1, "steps": 1, "bytes_scanned": 412_300_000, "bytes_total": 1_130_000_000,
     "rows": 4_200_000},
    {"stage": None, "step": 1, "steps": 1, "bytes_scanned": 1_130_000_000, "bytes_total": 1_130_000_000,
     "rows": 11_512_004},
]
PROGRESS: dict[str, list[dict]] = {
    task: [{**snapshot, "stage": task} for snapshot in _STAGE_PROGRESS] for task in TASKS if task != "pipeline"
}
PROGRESS["pipeline"] = [
    {"stage": "filter_data", "step": 1, "steps": 4, "bytes_scanned": 412_300_000, "bytes_total": 1_130_000_000,
     "rows": 4_200_000},
    {"stage": "top_ctr", "step": 2, "steps": 4, "bytes_scanned": None, "rows": 9_000},
]


class StubJobsApi:
    def __init__(self, token: str, behaviour: dict[str, str] | None = None):
        self.token = token
        self.behaviour = behaviour or {}
        self.requests: list[dict] = []
        self.runs: dict[str, dict] = {}
        self.polls_left: dict[str, int] = {}
        self.progress_left: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def posts(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST"]

    def _new_run(
        self, task: str, day: str, status: str, polls: int = 0, error: str | None = None, progress: bool = False
    ) -> dict:
        run_id = str(uuid.uuid4())
        run = {
            "id": run_id, "task": task, "date": day, "status": status,
            "created_at": "2024-11-26T00:00:01Z", "started_at": "2024-11-26T00:00:01Z",
            "finished_at": None if status == "running" else "2024-11-26T00:00:02Z",
            "rows_in": 10, "rows_out": 5, "bad_rows": 0, "error": error,
            "links": {"self": f"/jobs/runs/{run_id}"},
        }
        if progress:
            run["progress"] = None
            self.progress_left[run_id] = list(PROGRESS[task])
        self.runs[run_id] = run
        self.polls_left[run_id] = polls
        self._report_progress(run)
        return run

    def _report_progress(self, run: dict) -> None:
        """Set the next progress snapshot on a running run that reports progress; a finished run has none."""
        if "progress" not in run:
            return
        left = self.progress_left.get(run["id"]) or []
        run["progress"] = left.pop(0) if run["status"] == "running" and left else None

    def _post_job(self, task: str, day: str) -> tuple[int, dict, dict]:
        how = self.behaviour.get(task, "ok")
        if how == "ok":
            return 200, self._new_run(task, day, "succeeded"), {}
        if how == "fail":
            return 200, self._new_run(task, day, "failed", error="stub: the job failed"), {}
        if how in ("slow", "slow_no_progress"):
            return 202, self._new_run(task, day, "running", polls=1, progress=how == "slow"), {}
        if how == "conflict":
            other = self._new_run(task, day, "running", polls=0)
            body = _error("conflict", f"{task} for {day} is already running as run {other['id']}")
            return 409, body, {"Location": other["links"]["self"]}
        raise AssertionError(f"unknown stub behaviour {how!r}")

    def _poll(self, run_id: str) -> tuple[int, dict]:
        run = self.runs.get(run_id)
        if run is None:
            return 404, _error("not_found", f"no run {run_id}")
        if self.polls_left[run_id] > 0:
            self.polls_left[run_id] -= 1
            time.sleep(0.3)  # a long-poll that ran out of wait
            self._report_progress(run)
            return 202, run
        if run["status"] == "running":
            run.update(status="succeeded", finished_at="2024-11-26T00:00:09Z")
            self._report_progress(run)
        return 200, run

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _send(self, code: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                auth = self.headers.get("Authorization")
                with api._lock:
                    api.requests.append(
                        {"method": method, "path": url.path, "query": query, "auth": auth, "body": body,
                         "content_type": self.headers.get("Content-Type")}
                    )
                    code, answer, headers = self._route(method, url.path, query, body, auth)
                self._send(code, answer, headers)

            def _route(self, method, path, query, body, auth):
                if path == "/readyz" and method == "GET":
                    return 200, {"status": "ready"}, {}
                job = re.fullmatch(r"/jobs/([a-z_]+)", path)
                poll = re.fullmatch(r"/jobs/runs/([0-9a-f-]+)", path)
                if not (job or poll):
                    return 404, _error("not_found", f"no route {path}"), {}
                if auth != f"Bearer {api.token}":
                    return 401, _error("unauthorized", "missing or wrong bearer token"), {
                        "WWW-Authenticate": "Bearer"}
                wait = query.get("wait", "0")
                if not wait.isdigit():
                    return 400, _error("bad_request", "wait must be a number of seconds"), {}
                if int(wait) > MAX_WAIT:  # the real service clamps; the stub insists callers stay under it
                    return 400, _error("bad_request", f"wait {wait} > {MAX_WAIT}"), {}
                if poll:
                    if method != "GET":
                        return 405, _error("method_not_allowed", "runs are read with GET"), {}
                    code, run = api._poll(poll.group(1))
                    return code, run, {}
                if method != "POST":
                    return 405, _error("method_not_allowed", "jobs are triggered with POST"), {}
                if job.group(1) not in TASKS:
                    return 404, _error("not_found", f"unknown task {job.group(1)}"), {}
                day = query.get("date")
                if day is None and body:
                    try:
                        day = json.loads(body).get("date")
                    except (ValueError, AttributeError):
                        return 400, _error("bad_request", 'body must be JSON {"date": "YYYY-MM-DD"}'), {}
                if not _is_date(day):
                    return 400, _error("bad_request", "date must be YYYY-MM-DD"), {}
                return api._post_job(job.group(1), day)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        return Handler


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _is_date(value) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        Date.fromisoformat(value)
    except ValueError:
        return False
    return True

"""A loopback stand-in for Amazon SNS: answers Publish in the query protocol botocore speaks, and records each
message, so the DAG's SnsNotifiers are exercised for real (boto3, signing, the provider's hook) without AWS."""

from __future__ import annotations

import json
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from urllib.parse import parse_qsl

TEST_TOPIC = "arn:aws:sns:us-east-1:123456789012:adrec-test-alarms"


class StubSns:
    """`with StubSns() as sns:` serves on a free loopback port; `sns.published` holds the Publish calls."""

    def __init__(self) -> None:
        self.published: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                call = dict(parse_qsl(body))
                call["signed"] = self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256")
                if call.get("Action") != "Publish":
                    self.send_error(400, f"the stub answers Publish only, not {call.get('Action')}")
                    return
                stub.published.append(call)
                answer = (
                    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
                    f"<MessageId>{uuid.uuid4()}</MessageId></PublishResult><ResponseMetadata>"
                    f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></PublishResponse>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def __enter__(self) -> StubSns:
        Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def connection(self) -> str:
        return aws_connection(f"http://127.0.0.1:{self.port}")

    def messages(self) -> list[str]:
        """The text of each published message (the notifier publishes {"default": text} as JSON)."""
        return [json.loads(call["Message"])["default"] for call in self.published]


def aws_connection(endpoint: str) -> str:
    """`AIRFLOW_CONN_AWS_DEFAULT` for a loopback endpoint: fake keys, one attempt, a short connect timeout."""
    return json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": endpoint,
                  "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2, "read_timeout": 5}},
    })

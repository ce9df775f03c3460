"""infra/restore-db.sh, tested offline (run by scripts/deploy-check.sh with the infra venv's Python, which has
botocore and jmespath):

1. every `aws` call written in the script (the ones it runs and the ones it tells the operator to run) names an
   operation or waiter and options that exist in botocore's service models, required options included; a
   misspelt option and an unknown command must be flagged (so the check is not vacuous);
2. each step runs end to end against a stand-in `aws` on PATH (tests/aws_cli.py: it checks every call the same
   way and answers from a canned account) and a loopback stand-in for the service, and makes exactly the
   expected calls in the expected order, on ECS and on App Runner.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parent / "restore-db.sh"
sys.path.insert(0, str(HERE))
from aws_cli import calls_in_script, check_call  # noqa: E402

DB = "adrec-base-database-abc123"
SOURCE = {"DBInstanceIdentifier": DB, "DBInstanceStatus": "available", "LatestRestorableTime": "2026-12-05T07:55:00Z",
          "DBSubnetGroup": {"DBSubnetGroupName": "adrec-base-dbsubnets"},
          "DBParameterGroups": [{"DBParameterGroupName": "adrec-base-dbparams"}], "DBInstanceClass": "db.t4g.micro",
          "StorageType": "gp3", "MultiAZ": False, "MaxAllocatedStorage": 100, "CACertificateIdentifier": "rds-ca-rsa2048-g1",
          "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0a1"}, {"VpcSecurityGroupId": "sg-0b2"}]}
ECS = {"EcsService": "arn:aws:ecs:us-east-1:123456789012:service/adrec-EcsCluster-x/adrec-EcsService-y",
       "EcsCluster": "adrec-EcsCluster-x"}
APPRUNNER = {"AppRunnerService": "arn:aws:apprunner:us-east-1:123456789012:service/adrec-service/0123"}


class Service(BaseHTTPRequestHandler):
    paths = []

    def do_GET(self):  # noqa: N802
        Service.paths.append(self.path)
        body = b'{"status":"ready"}' if self.path == "/readyz" else b'{"recommendations":[{"rank":1}]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run(tmp, args, state):
    """Runs the script with the stand-in `aws` (and an instant `sleep`); returns (process, the aws calls)."""
    bin_dir, log, state_file = tmp / "bin", tmp / "aws.log", tmp / "state.json"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(HERE)!r})\n"
                                 f"from aws_cli import stub_main\nstub_main({str(state_file)!r}, {str(log)!r})\n")
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for f in ("aws", "sleep"):
        (bin_dir / f).chmod(0o755)
    state_file.write_text(json.dumps(state))
    log.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    p = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return p, calls, json.loads(state_file.read_text())


def shape(calls):
    """The calls as 'service command [waiter]', for comparing sequences."""
    return [" ".join(c[:3] if c[1] == "wait" else c[:2]) for c in calls]


def option(call, name):
    if name not in call:
        return []
    i = call.index(name)
    values = []
    for value in call[i + 1:]:
        if value.startswith("--"):
            break
        values.append(value)
    return values


FAILURES = []


def expect(condition, message, p=None):
    if not condition:
        FAILURES.append(message + (f"\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}" if p is not None else ""))


def static_checks():
    calls = calls_in_script(SCRIPT.read_text())
    commands = {" ".join(argv[:2]) for _, argv in calls}
    expect(len(calls) >= 12, f"only {len(calls)} aws calls found in {SCRIPT.name}")
    for number, argv in calls:
        for problem in check_call(argv):
            expect(False, f"{SCRIPT.name}:{number}: {problem}")
    # The checker itself: these must be refused.
    expect(check_call(["rds", "restore-db-instance-to-point-in-time", "--source-db-instance-identifier", "a",
                       "--target-db-instance-identifier", "b", "--restore-tyme", "x"]), "a misspelt option passed")
    expect(check_call(["rds", "restore-db-instance-to-point-in-time", "--source-db-instance-identifier", "a"]),
           "a missing required option passed")
    expect(check_call(["rds", "rename-db-instance", "--db-instance-identifier", "a"]), "an unknown command passed")
    expect(check_call(["rds", "wait", "db-instance-ready", "--db-instance-identifier", "a"]), "an unknown waiter passed")
    return len(calls), commands


def scenarios(tmp):
    base = {"stacks": {"adrec-base": {"DatabaseInstanceId": DB}}, "instances": {DB: SOURCE}, "resources": ECS}

    p, calls, state = run(tmp, ["restore", "latest"], json.loads(json.dumps(base)))
    expect(p.returncode == 0, "restore latest failed", p)
    expect(shape(calls) == ["cloudformation describe-stacks"] + ["rds describe-db-instances"] * 3 +
           ["rds restore-db-instance-to-point-in-time", "rds wait db-instance-available"], f"restore calls {shape(calls)}", p)
    restore = next((c for c in calls if c[1] == "restore-db-instance-to-point-in-time"), [])
    target = (option(restore, "--target-db-instance-identifier") or [""])[0]
    expect(target.startswith(f"{DB}-pitr-") and target in state["instances"], f"restored as {target}")
    for name, value in (("--source-db-instance-identifier", [DB]), ("--db-subnet-group-name", ["adrec-base-dbsubnets"]),
                        ("--vpc-security-group-ids", ["sg-0a1", "sg-0b2"]), ("--db-parameter-group-name", ["adrec-base-dbparams"]),
                        ("--db-instance-class", ["db.t4g.micro"]), ("--storage-type", ["gp3"]),
                        ("--max-allocated-storage", ["100"]), ("--ca-certificate-identifier", ["rds-ca-rsa2048-g1"])):
        expect(option(restore, name) == value, f"restore {name} {option(restore, name)}, not {value}")
    for flag in ("--use-latest-restorable-time", "--no-multi-az", "--no-publicly-accessible", "--deletion-protection",
                 "--manage-master-user-password"):
        expect(flag in restore, f"restore without {flag}")

    multi = json.loads(json.dumps(base))
    multi["instances"][DB]["MultiAZ"] = True
    p, calls, _ = run(tmp, ["restore", "2026-12-01T03:00:00Z"], multi)
    restore = next((c for c in calls if c[1] == "restore-db-instance-to-point-in-time"), [])
    expect(p.returncode == 0 and option(restore, "--restore-time") == ["2026-12-01T03:00:00Z"] and "--multi-az" in restore,
           "restore at a time, Multi-AZ", p)

    restored = f"{DB}-pitr-202612050800"
    for platform, resources, restart in (("ECS", ECS, ["cloudformation describe-stack-resource"] * 2 + [
            "ecs update-service", "ecs wait services-stable"]),
            ("App Runner", APPRUNNER, ["cloudformation describe-stack-resource"] * 2 + ["apprunner start-deployment"])):
        state = {**json.loads(json.dumps(base)), "resources": resources}
        state["instances"][restored] = {**SOURCE, "DBInstanceIdentifier": restored}
        p, calls, after = run(tmp, ["swap", restored], state)
        expect(p.returncode == 0, f"swap on {platform} failed", p)
        expected = (["cloudformation describe-stacks", "rds describe-db-instances", "rds modify-db-instance"]
                    + ["rds describe-db-instances"] * 2 + ["rds wait db-instance-available", "rds modify-db-instance"]
                    + ["rds describe-db-instances"] * 2 + ["rds wait db-instance-available"] + restart)
        expect(shape(calls) == expected, f"swap on {platform}: {shape(calls)}", p)
        renames = [tuple(option(c, "--db-instance-identifier") + option(c, "--new-db-instance-identifier"))
                   for c in calls if c[1] == "modify-db-instance"]
        expect(len(renames) == 2 and renames[0][:1] == (DB,) and renames[0][1:2] != () and renames[0][1].startswith(f"{DB}-old-")
               and renames[1] == (restored, DB), f"renames {renames}")
        expect(after["instances"][DB]["DBInstanceIdentifier"] == DB and restored not in after["instances"],
               f"after the swap on {platform}: {sorted(after['instances'])}")
        if platform == "ECS":
            update = next((c for c in calls if c[1] == "update-service"), [])
            expect("--force-new-deployment" in update and option(update, "--service") == [ECS["EcsService"]], "restart")

    state = json.loads(json.dumps(base))
    state["instances"][restored] = {**SOURCE, "DBInstanceIdentifier": restored, "DBInstanceStatus": "creating"}
    p, calls, _ = run(tmp, ["swap", restored], state)
    expect(p.returncode != 0 and not any(c[1] == "modify-db-instance" for c in calls),
           "swap went ahead with a restored instance that is not available", p)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        state = {**json.loads(json.dumps(base)),
                 "stacks": {"adrec": {"ServiceUrl": f"http://127.0.0.1:{server.server_address[1]}"}}}
        p, calls, _ = run(tmp, ["verify", "adv-0042"], state)
    finally:
        server.shutdown()
    expect(p.returncode == 0 and Service.paths == ["/readyz", "/recommendations/adv-0042/TopCTR"],
           f"verify: {Service.paths}", p)

    p, calls, _ = run(tmp, [], base)
    expect(p.returncode == 2 and not calls and "restore" in p.stderr, "no argument: not the usage", p)
    return 7


def main():
    found, commands = static_checks()
    with tempfile.TemporaryDirectory() as tmp:
        count = scenarios(Path(tmp))
    if FAILURES:
        print("restore-db test: FAILED", file=sys.stderr)
        for f in FAILURES:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"restore-db test: OK: {found} aws calls in restore-db.sh valid under botocore's models "
          f"({', '.join(sorted(commands))}); {count} runs against a stub aws made the expected calls in order")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every alarm and announced event names its runbook entry in infra/README.md, and that entry exists."""

import re
import sys
from pathlib import Path

from . import assertion
from .model import each_resource, strings

REPO = Path(__file__).resolve().parents[2]
README = REPO / "infra" / "README.md"
sys.path.insert(0, str(REPO / "scripts"))
from md_check import scan  # noqa: E402  (the same anchors as the Markdown check)

RUNBOOK = re.compile(r"Runbook: infra/README\.md#([\w-]+)")


def anchors():
    return scan(README.read_text(encoding="utf-8"))[2]


def runbook_texts(t):
    """(what, text that must name a runbook entry) for every alarm and events rule target."""
    for name, alarm in t.of_type("AWS::CloudWatch::Alarm").items():
        yield name, " ".join(strings(alarm["Properties"].get("AlarmDescription", "")))
    for name, rule in t.of_type("AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            yield name, target.get("InputTransformer", {}).get("InputTemplate", "")


def undo_runbooks(docs):
    for _, r in each_resource(docs, "AWS::CloudWatch::Alarm"):
        p = r["Properties"]
        p["AlarmDescription"] = RUNBOOK.sub("", p["AlarmDescription"]) if isinstance(p["AlarmDescription"], str) \
            else {"Fn::Sub": RUNBOOK.sub("", p["AlarmDescription"]["Fn::Sub"])}


@assertion(undo_runbooks)
def every_alarm_has_a_runbook(t):
    """Each alarm's description (what the mail shows) and each events rule's message ends with `Runbook:
    infra/README.md#<anchor>`, an entry that exists; an alarm's anchor is its name for ProjectName=adrec."""
    known, problems = anchors(), []
    for what, text in runbook_texts(t):
        found = RUNBOOK.search(text)
        if not found:
            problems.append(f"{what}: names no runbook entry")
        elif found.group(1) not in known:
            problems.append(f"{what}: runbook entry #{found.group(1)} is not in infra/README.md")
    for name, alarm in t.of_type("AWS::CloudWatch::Alarm").items():
        alarm_name = "".join(strings(alarm["Properties"].get("AlarmName"))).replace("${ProjectName}", "adrec")
        found = RUNBOOK.search(" ".join(strings(alarm["Properties"].get("AlarmDescription", ""))))
        if found and found.group(1) != alarm_name:
            problems.append(f"{name}: runbook entry #{found.group(1)} is not named after the alarm ({alarm_name})")
    return problems

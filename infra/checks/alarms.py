"""The alarms: their topic and subscription, and what each one reads."""

import json

from . import assertion
from .model import alarm_topics, branches, each_resource, notifies


def undo_subscription_condition(docs):
    for _, r in each_resource(docs, "AWS::SNS::Subscription"):
        r.pop("Condition", None)


@assertion(undo_subscription_condition)
def alarm_topic_email(t):
    """The alarms go to an SNS topic with an email subscription to a parameter, created only
    when that parameter is non-empty."""
    if not alarm_topics(t):
        return ["no SNS topic"]
    subs = [(k, r) for k, r in t.of_type("AWS::SNS::Subscription").items()
            if r["Properties"].get("Protocol") == "email" and t.target(r["Properties"].get("TopicArn")) in alarm_topics(t)]
    if not subs:
        return ["no email subscription to the alarm topic"]
    problems = []
    for name, sub in subs:
        param = t.target(sub["Properties"].get("Endpoint"))
        if param not in t.params:
            problems.append(f"{name}: the email is not a parameter")
            continue
        if t.params[param].get("Default", None) != "":
            problems.append(f"{name}: parameter {param} does not default to empty")
        wanted = {"Fn::Not": [{"Fn::Equals": [{"Ref": param}, ""]}]}
        wanted_rev = {"Fn::Not": [{"Fn::Equals": ["", {"Ref": param}]}]}
        if t.conditions.get(sub.get("Condition")) not in (wanted, wanted_rev):
            problems.append(f"{name}: not conditional on {param} being non-empty")
    return problems


def filters_matching(t, *needles):
    """Metric filters whose pattern contains every needle: {(namespace, metric): [log group nodes]}."""
    found = {}
    for r in t.of_type("AWS::Logs::MetricFilter").values():
        pattern = r["Properties"].get("FilterPattern", "")
        if all(n in pattern for n in needles):
            for m in r["Properties"].get("MetricTransformations", []):
                key = (json.dumps(m.get("MetricNamespace"), sort_keys=True), m.get("MetricName"))
                found.setdefault(key, []).append(r["Properties"].get("LogGroupName"))
    return found


def alarms_on(t, key):
    return [(k, a) for k, a in t.of_type("AWS::CloudWatch::Alarm").items()
            if (json.dumps(a["Properties"].get("Namespace"), sort_keys=True), a["Properties"].get("MetricName")) == key]


def covers_both_platforms(t, log_groups):
    """The filters read the ECS task's awslogs group and App Runner's application log group."""
    ecs_groups = {json.dumps(c.get("LogConfiguration", {}).get("Options", {}).get("awslogs-group"))
                  for r in t.of_type("AWS::ECS::TaskDefinition").values()
                  for c in r["Properties"].get("ContainerDefinitions", [])}
    seen = [json.dumps(b) for g in log_groups for b in branches(g)]
    problems = []
    if not ecs_groups & set(seen):
        problems.append("no filter on the ECS service's log group")
    if not any("/aws/apprunner/" in s and "/application" in s for s in seen):
        problems.append("no filter on App Runner's application log group")
    return problems


def undo_missing_breaching(docs):
    for _, r in each_resource(docs, "AWS::CloudWatch::Alarm"):
        if r["Properties"].get("TreatMissingData") == "breaching":
            r["Properties"]["TreatMissingData"] = "notBreaching"


@assertion(undo_missing_breaching)
def alarm_pipeline_stale(t):
    """An alarm fires when no publication (a `run succeeded` JSON line of task db_writing or
    pipeline, fields under `fields`) was logged for 36 hours, missing data counting as breaching."""
    found = filters_matching(t, '$.fields.message = "run succeeded"', "$.fields.task", '"db_writing"', '"pipeline"')
    if not found:
        return ['no metric filter on $.fields.message = "run succeeded" for db_writing and pipeline']
    problems = []
    for key, groups in found.items():
        problems += covers_both_platforms(t, groups)
        alarms = alarms_on(t, key)
        if not alarms:
            problems.append(f"no alarm on {key[1]}")
        for name, a in alarms:
            p = a["Properties"]
            periods = int(p.get("EvaluationPeriods", 0))
            if p.get("TreatMissingData") != "breaching":
                problems.append(f"{name}: missing data is not breaching")
            if int(p.get("Period", 0)) * periods < 36 * 3600 or int(p.get("DatapointsToAlarm", periods)) != periods:
                problems.append(f"{name}: does not wait for 36 hours without a publication")
            if p.get("ComparisonOperator") != "LessThanThreshold" or float(p.get("Threshold", 0)) > 1 \
                    or p.get("Statistic") != "Sum":
                problems.append(f"{name}: is not 'Sum < 1 per period'")
            if not notifies(t, a):
                problems.append(f"{name}: does not notify the SNS topic")
    return problems


def alarm_metrics(alarm):
    """(namespace, metric name) of every metric an alarm reads, on every Fn::If branch."""
    p = alarm["Properties"]
    pairs = [(p.get("Namespace"), p.get("MetricName"))]
    for m in p.get("Metrics", []):
        for metric in branches(m.get("MetricStat", {}).get("Metric")):
            if isinstance(metric, dict):
                pairs.append((metric.get("Namespace"), metric.get("MetricName")))
    return pairs


def undo_5xx_alarm(docs):
    for doc in docs:
        res = doc.get("Resources", {})
        for name in [k for k, r in res.items() if "5XX" in json.dumps(r).upper() and r.get("Type") == "AWS::CloudWatch::Alarm"]:
            del res[name]


@assertion(undo_5xx_alarm)
def alarm_5xx_rate(t):
    """A 5xx alarm reads the ALB's HTTPCode_Target_5XX_Count on ECS and App Runner's
    5xxStatusResponses, and notifies the SNS topic."""
    problems = []
    for wanted in (("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"), ("AWS/AppRunner", "5xxStatusResponses")):
        alarms = [(k, a) for k, a in t.of_type("AWS::CloudWatch::Alarm").items() if wanted in alarm_metrics(a)]
        if not alarms:
            problems.append(f"no alarm on {wanted[0]} {wanted[1]}")
        problems += [f"{k}: does not notify the SNS topic" for k, a in alarms if not notifies(t, a)]
    return problems


def undo_database_filter(docs):
    for _, r in each_resource(docs, "AWS::Logs::MetricFilter"):
        pattern = r["Properties"]["FilterPattern"]
        r["Properties"]["FilterPattern"] = pattern.replace("$.fields.message", "$.message")


@assertion(undo_database_filter)
def alarm_database_unreachable(t):
    """An alarm fires on the service's `database unavailable` JSON lines (a metric filter on
    `fields.message`, on both platforms' log groups) and notifies the SNS topic."""
    found = filters_matching(t, '$.fields.message = "database unavailable"')
    if not found:
        return ['no metric filter on $.fields.message = "database unavailable"']
    problems = []
    for key, groups in found.items():
        problems += covers_both_platforms(t, groups)
        alarms = alarms_on(t, key)
        if not alarms:
            problems.append(f"no alarm on {key[1]}")
        problems += [f"{k}: does not notify the SNS topic" for k, a in alarms if not notifies(t, a)]
    return problems

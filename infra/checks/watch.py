"""What watches the running deployment: every alarm reads a real metric of a real resource, the ALB's
targets and the database are watched, failed ECS deployments are announced, and everyone who must may
publish to the alarm topic."""

import json
import re
from pathlib import Path

from . import assertion
from .https import evaluate, exists
from .model import alarm_topics, as_list, each_resource, host_role, hosts, notifies, role_statements, strings, user_data

# (namespace, metric) -> the dimensions the alarm must name, each with a check of its value.
ELB, APPRUNNER, RDS = "AWS/ApplicationELB", "AWS/AppRunner", "AWS/RDS"
LB_DIMS = {"LoadBalancer": ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerFullName")}
TG_DIMS = {**LB_DIMS, "TargetGroup": ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupFullName")}
AR_DIMS = {"ServiceName": ("AWS::AppRunner::Service", "ServiceName"), "ServiceID": ("AWS::AppRunner::Service", "ServiceId")}
DB_DIMS = {"DBInstanceIdentifier": ("AWS::RDS::DBInstance", None)}  # None: a Ref
KNOWN_METRICS = {
    (ELB, "HTTPCode_Target_5XX_Count"): TG_DIMS, (ELB, "RequestCount"): TG_DIMS,
    (ELB, "UnHealthyHostCount"): TG_DIMS, (ELB, "HealthyHostCount"): TG_DIMS,
    (ELB, "HTTPCode_ELB_5XX_Count"): LB_DIMS,
    (APPRUNNER, "5xxStatusResponses"): AR_DIMS, (APPRUNNER, "Requests"): AR_DIMS,
    (RDS, "FreeStorageSpace"): DB_DIMS, (RDS, "CPUUtilization"): DB_DIMS,
}
PLATFORMS = [{"ComputePlatform": p, "EcsDesiredCount": n} for p in ("EcsFargate", "AppRunner") for n in (0, 1)]


def metrics_of(t, alarm, values):
    """(namespace, metric, {dimension: value}) of every metric the alarm reads for these parameter values."""
    p = alarm["Properties"]
    if "MetricName" in p:
        yield p.get("Namespace"), p["MetricName"], {d["Name"]: d["Value"] for d in p.get("Dimensions", [])}
    for m in p.get("Metrics", []):
        metric = m.get("MetricStat", {}).get("Metric")
        if isinstance(metric, dict) and list(metric) == ["Fn::If"]:
            metric = evaluate(t, metric, values)
        if isinstance(metric, dict):
            yield metric.get("Namespace"), metric.get("MetricName"), {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}


def dimension_problem(t, name, value, kind, attribute, values):
    """Why a dimension's value is not the right attribute of an existing resource of the right type."""
    if attribute == "ServiceName":  # App Runner's ServiceName is a name we give it: compare the texts
        services = [r for k, r in t.of_type(kind).items() if exists(t, k, values)]
        wanted = [json.dumps(r["Properties"].get("ServiceName"), sort_keys=True) for r in services]
        return None if json.dumps(value, sort_keys=True) in wanted else f"{name} is not the App Runner service's name"
    if attribute is None:
        target = t.target(value)
    else:
        target, attr = t.attribute(value)
        if attr != attribute:
            return f"{name} is not {attribute} of a {kind}"
    if t.type_of(target) != kind:
        return f"{name} does not refer to a {kind} of the templates ({target})"
    if not exists(t, target, values):
        return f"{name} refers to {target}, which does not exist when the alarm does ({values})"
    return None


def custom_metrics(t):
    return {(json.dumps(m.get("MetricNamespace"), sort_keys=True), m.get("MetricName"))
            for r in t.of_type("AWS::Logs::MetricFilter").values() for m in r["Properties"].get("MetricTransformations", [])}


def undo_dimension(docs):
    for _, r in each_resource(docs, "AWS::CloudWatch::Alarm"):
        if r["Properties"].get("Dimensions"):
            r["Properties"]["Dimensions"][0]["Value"] = {"Fn::GetAtt": ["NoSuchResource", "LoadBalancerFullName"]}
            return
    raise KeyError("no alarm with Dimensions")


@assertion(undo_dimension)
def alarm_metrics_exist(t):
    """Every alarm reads a metric that exists: an AWS metric with exactly its dimensions, each the right
    attribute of a resource of these templates that exists whenever the alarm does, or a metric a metric
    filter of the templates produces."""
    problems = []
    produced = custom_metrics(t)
    for name, alarm in t.of_type("AWS::CloudWatch::Alarm").items():
        for values in PLATFORMS:
            if not exists(t, name, values):
                continue
            for namespace, metric, dims in metrics_of(t, alarm, values):
                where = f"{name} ({values['ComputePlatform']}): {metric}"
                if isinstance(namespace, dict):
                    if (json.dumps(namespace, sort_keys=True), metric) not in produced or dims:
                        problems.append(f"{where}: no metric filter produces it (or it has dimensions)")
                    continue
                wanted = KNOWN_METRICS.get((namespace, metric))
                if wanted is None:
                    problems.append(f"{where}: {namespace} {metric} is not a metric this check knows")
                elif set(dims) != set(wanted):
                    problems.append(f"{where}: dimensions {sorted(dims)}, not {sorted(wanted)}")
                else:
                    problems += [f"{where}: {why}" for d, v in dims.items()
                                 if (why := dimension_problem(t, d, v, *wanted[d], values))]
    return sorted(set(problems)) or ([] if t.of_type("AWS::CloudWatch::Alarm") else ["no alarm"])


def alarms_reading(t, namespace, metric):
    return [(k, a) for k, a in t.of_type("AWS::CloudWatch::Alarm").items()
            if any((ns, m) == (namespace, metric) for v in PLATFORMS if exists(t, k, v) for ns, m, _ in metrics_of(t, a, v))]


def undo_health_alarms(docs):
    for doc in docs:
        res = doc.get("Resources", {})
        for k in [k for k, r in res.items() if r.get("Type") == "AWS::CloudWatch::Alarm"
                  and r["Properties"].get("MetricName") in ("UnHealthyHostCount", "HealthyHostCount", "HTTPCode_ELB_5XX_Count")]:
            del res[k]


@assertion(undo_health_alarms)
def alarms_watch_the_targets(t):
    """A dead or crash-looping task is noticed: per target group of the service an alarm on
    UnHealthyHostCount and one on HealthyHostCount < 1, and per load balancer one on the 5xx the ALB
    makes itself (HTTPCode_ELB_5XX_Count); all notify the topic."""
    problems = []
    groups = {t.target(lb.get("TargetGroupArn")) for s in t.of_type("AWS::ECS::Service").values()
              for lb in s["Properties"].get("LoadBalancers", [])}
    for metric, dim, subjects in (("UnHealthyHostCount", "TargetGroup", groups), ("HealthyHostCount", "TargetGroup", groups),
                                  ("HTTPCode_ELB_5XX_Count", "LoadBalancer", set(t.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")))):
        alarms = alarms_reading(t, ELB, metric)
        for subject in subjects:
            watching = [(k, a) for k, a in alarms for d in a["Properties"].get("Dimensions", [])
                        if d["Name"] == dim and t.attribute(d["Value"])[0] == subject]
            if not watching:
                problems.append(f"no alarm on {metric} of {subject}")
            problems += [f"{k}: does not notify the topic" for k, a in watching if not notifies(t, a)]
            if metric == "HealthyHostCount" and any(a["Properties"].get("ComparisonOperator") != "LessThanThreshold"
                                                    or float(a["Properties"].get("Threshold", 0)) != 1 for _, a in watching):
                problems.append(f"the HealthyHostCount alarm of {subject} is not '< 1'")
    return problems or ([] if groups else ["no ECS service behind a target group"])


def undo_database_alarms(docs):
    for doc in docs:
        res = doc.get("Resources", {})
        for k in [k for k, r in res.items() if r.get("Type") == "AWS::CloudWatch::Alarm"
                  and r["Properties"].get("Namespace") == RDS]:
            del res[k]


@assertion(undo_database_alarms)
def alarms_watch_the_database(t):
    """Each RDS instance has an alarm on FreeStorageSpace and one on CPUUtilization, notifying the topic."""
    problems = []
    for db in t.of_type("AWS::RDS::DBInstance"):
        for metric in ("FreeStorageSpace", "CPUUtilization"):
            alarms = [(k, a) for k, a in alarms_reading(t, RDS, metric)
                      if any(t.target(d["Value"]) == db for d in a["Properties"].get("Dimensions", []))]
            if not alarms:
                problems.append(f"no alarm on {metric} of {db}")
            problems += [f"{k}: does not notify the topic" for k, a in alarms if not notifies(t, a)]
    return problems or ([] if t.of_type("AWS::RDS::DBInstance") else ["no AWS::RDS::DBInstance"])


def topic_statements(t):
    return [st for p in t.of_type("AWS::SNS::TopicPolicy").values()
            if set(t.target(x) for x in p["Properties"].get("Topics", [])) & alarm_topics(t)
            for st in p["Properties"].get("PolicyDocument", {}).get("Statement", [])
            if st.get("Effect") == "Allow" and "sns:Publish" in as_list(st.get("Action"))]


def undo_ecs_events(docs):
    for doc in docs:
        res = doc.get("Resources", {})
        for k in [k for k, r in res.items() if r.get("Type") == "AWS::Events::Rule"]:
            del res[k]


@assertion(undo_ecs_events)
def ecs_deployment_failures_announced(t):
    """The service rolls a failed deployment back (circuit breaker with rollback), and an EventBridge rule
    sends its SERVICE_DEPLOYMENT_FAILED events to the alarm topic, whose policy lets that rule publish."""
    problems = []
    services = {k: s for k, s in t.of_type("AWS::ECS::Service").items() if s["Properties"].get("LoadBalancers")}
    for name, svc in services.items():
        breaker = svc["Properties"].get("DeploymentConfiguration", {}).get("DeploymentCircuitBreaker", {})
        if not (breaker.get("Enable") is True and breaker.get("Rollback") is True):
            problems.append(f"{name}: no deployment circuit breaker with rollback")
        rules = [(k, r) for k, r in t.of_type("AWS::Events::Rule").items()
                 if "aws.ecs" in r["Properties"].get("EventPattern", {}).get("source", [])
                 and "SERVICE_DEPLOYMENT_FAILED" in r["Properties"]["EventPattern"].get("detail", {}).get("eventName", [])
                 and name in {t.target(x) for x in r["Properties"]["EventPattern"].get("resources", [])}]
        rules = [(k, r) for k, r in rules if any(t.target(x.get("Arn")) in alarm_topics(t) for x in r["Properties"].get("Targets", []))]
        if not rules:
            problems.append(f"{name}: no EventBridge rule sends its failed deployments to the alarm topic")
        for k, r in rules:
            rule_name = next(strings(r["Properties"].get("Name", "")), "")
            allowed = [st for st in topic_statements(t) if st.get("Principal") == {"Service": "events.amazonaws.com"}
                       and any(rule_name and s.endswith("rule/" + rule_name) for s in strings(st.get("Condition")))]
            if not allowed:
                problems.append(f"{k}: the topic policy does not let this rule (by its name) publish")
    return problems or ([] if services else ["no ECS service behind a load balancer"])


def undo_publishers(docs):
    for _, r in each_resource(docs, "AWS::SNS::TopicPolicy"):
        statements = r["Properties"]["PolicyDocument"]["Statement"]
        statements[:] = [st for st in statements if "AWS" not in st.get("Principal", {})]


@assertion(undo_publishers)
def alarm_topic_publishers(t):
    """The topic policy lets the alarms publish (cloudwatch.amazonaws.com, for this deployment's alarm
    names) and the Airflow host's role, which reads the topic's ARN from an SSM parameter the service
    stack publishes (for the DAG's SNS notifiers)."""
    statements = topic_statements(t)
    problems = []
    if not any(st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
               and any(":alarm:${ProjectName}-" in s for s in strings(st.get("Condition"))) for st in statements):
        problems.append("the topic policy does not let this deployment's alarms publish")
    roles = {t.target(r) for h in t.of_type("AWS::IAM::InstanceProfile").values() for r in h["Properties"].get("Roles", [])}
    if not any(t.attribute(st.get("Principal", {}).get("AWS"))[0] in roles for st in statements):
        problems.append("the topic policy does not let the Airflow host's role publish")
    params = [p for p in t.of_type("AWS::SSM::Parameter").values() if t.target(p["Properties"].get("Value")) in alarm_topics(t)]
    if not params:
        problems.append("no SSM parameter publishes the topic's ARN for the Airflow host")
    return problems


DAG_FILE = Path(__file__).resolve().parents[2] / "airflow" / "dags" / "adrec_daily.py"


def undo_topic_variable(docs):
    for _, r in each_resource(docs):
        data = r.get("Properties", {}).get("UserData")
        if data is not None:
            parts = data["Fn::Base64"]["Fn::Join"][1]
            parts[1] = parts[1].replace("AIRFLOW_VAR_ADREC_ALERT_TOPIC_ARN", "ADREC_ALERT_TOPIC_ARN")


@assertion(undo_topic_variable)
def dag_notifications_reach_the_topic(t):
    """The DAG's notifiers find the alarm topic: the Airflow host puts the SSM parameter that the service stack
    fills with the topic's ARN into AIRFLOW_VAR_<the DAG's Variable>, and its role may read that parameter."""
    found = re.search(r'^ALERT_TOPIC_VARIABLE = "(\w+)"', DAG_FILE.read_text(), re.M)
    if not found:
        return [f"{DAG_FILE.name}: no ALERT_TOPIC_VARIABLE"]
    env_name = "AIRFLOW_VAR_" + found.group(1).upper()
    params = [p["Properties"].get("Name") for p in t.of_type("AWS::SSM::Parameter").values()
              if t.target(p["Properties"].get("Value")) in alarm_topics(t)]
    names = {s.split("/", 2)[-1] for p in params for s in strings(p)}  # "/${ProjectName}/alarm-topic-arn" -> the tail
    problems = [] if names else ["no SSM parameter holds the topic's ARN"]
    for host in hosts(t):
        script = user_data(t, host)
        if f'env["{env_name}"]' not in script:
            problems.append(f"{host}: the user data does not set {env_name}")
        if not any(f"/${{ProjectName}}/{n}'" in script for n in names):
            problems.append(f"{host}: the user data does not read the topic's SSM parameter")
        readable = [s for st in role_statements(t, host_role(t, host)) if "ssm:GetParameter" in as_list(st.get("Action"))
                    for s in strings(st.get("Resource"))]
        if not any(s.endswith(f"parameter/${{ProjectName}}/{n}") for s in readable for n in names):
            problems.append(f"{host}: its role may not read the topic's SSM parameter")
    return problems or ([] if hosts(t) else ["no Airflow host"])

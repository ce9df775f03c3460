"""Assertions on the CloudFormation templates that a linter cannot know: each one guards a fix
(named in its docstring) and fails on the template from before that fix.

    check_templates.py TEMPLATE...              every assertion over the templates together
    check_templates.py --self-test TEMPLATE...  breaks each fix again in memory and expects its
                                                assertion to fail (so that none passes vacuously)

The templates are read together (infra/base.yaml exports what infra/adrec.yaml imports) with
cfn-lint's decoder, so short-form tags arrive as {"Ref": ...}, {"Fn::Sub": ...}, ...
Run by scripts/deploy-check.sh with the venv's Python (cfn-lint installed).
"""

import copy
import json
import re
import sys

from cfnlint.decode import decode


class Templates:
    """Parameters, conditions and resources of all templates, plus their exports by name."""

    def __init__(self, docs):
        self.docs = docs
        self.params, self.conditions, self.resources, self.exports = {}, {}, {}, {}
        for doc in docs:
            self.params.update(doc.get("Parameters", {}))
            self.conditions.update(doc.get("Conditions", {}))
            self.resources.update(doc.get("Resources", {}))
            for out in doc.get("Outputs", {}).values():
                name = out.get("Export", {}).get("Name")
                if name is not None:
                    self.exports[json.dumps(name, sort_keys=True)] = out["Value"]

    def of_type(self, kind):
        return {k: r for k, r in self.resources.items() if r.get("Type") == kind}

    def props(self, logical_id):
        return self.resources.get(logical_id, {}).get("Properties", {})

    def resolve(self, node):
        """Follows Fn::ImportValue to the exporting template's value."""
        while isinstance(node, dict) and list(node) == ["Fn::ImportValue"]:
            key = json.dumps(node["Fn::ImportValue"], sort_keys=True)
            if key not in self.exports:
                return node
            node = self.exports[key]
        return node

    def target(self, node):
        """The logical id a Ref/GetAtt (possibly through an import) points at, else None."""
        node = self.resolve(node)
        if isinstance(node, dict) and len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref" and isinstance(arg, str):
                return arg
            if fn == "Fn::GetAtt":
                return arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
        return None

    def default(self, node):
        """A literal, or the default of the parameter it references."""
        name = self.target(node)
        if name in self.params:
            return self.params[name].get("Default")
        return node


def strings(node):
    """Every string inside a node, in order (the text of a Fn::Sub/Fn::Join, ...)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for n in node:
            yield from strings(n)
    elif isinstance(node, dict):
        for n in node.values():
            yield from strings(n)


# --- the assertions: each returns a list of problems (empty = holds) ---------------------------
ASSERTIONS = []


def assertion(fn):
    ASSERTIONS.append(fn)
    return fn


@assertion
def platform_default_ecs(t):
    """ComputePlatform defaults to ECS Fargate (App Runner takes no new customers since
    2026-04-30) and App Runner stays an allowed option, with both services defined."""
    p = t.params.get("ComputePlatform")
    if p is None:
        return ["no ComputePlatform parameter"]
    problems = []
    if p.get("Default") != "EcsFargate":
        problems.append(f"ComputePlatform defaults to {p.get('Default')!r}, not 'EcsFargate'")
    if "AppRunner" not in p.get("AllowedValues", []):
        problems.append("ComputePlatform does not allow AppRunner")
    for kind in ("AWS::ECS::Service", "AWS::AppRunner::Service"):
        if not t.of_type(kind):
            problems.append(f"no {kind}")
    return problems


def hosts(t):
    """The EC2 instances that boot from user data (the Airflow host)."""
    return {k: r for k, r in t.of_type("AWS::EC2::Instance").items() if "UserData" in r.get("Properties", {})}


def host_role_statements(t, instance):
    """The IAM statements of the role behind the instance's profile."""
    profile = t.target(t.props(instance).get("IamInstanceProfile"))
    for role_ref in t.props(profile).get("Roles", []):
        for policy in t.props(t.target(role_ref)).get("Policies", []):
            yield from policy.get("PolicyDocument", {}).get("Statement", [])


@assertion
def ami_pinned(t):
    """The Airflow host's AMI is an explicit id parameter, never an SSM path that CloudFormation
    re-resolves on every update (which replaced the host, and its keys, on a routine deploy)."""
    problems = []
    if not hosts(t):
        problems.append("no EC2 instance with user data (the Airflow host)")
    for name, p in t.params.items():
        if "SSM::Parameter::Value" in p.get("Type", ""):
            problems.append(f"parameter {name} is resolved from SSM ({p['Type']})")
    for name, r in t.of_type("AWS::EC2::Instance").items():
        image = r.get("Properties", {}).get("ImageId")
        param = t.target(image)
        if any("resolve:ssm" in s for s in strings(image)):
            problems.append(f"{name}.ImageId is an SSM dynamic reference")
        elif param in t.params:
            if t.params[param].get("Type") != "AWS::EC2::Image::Id":
                problems.append(f"{name}.ImageId: parameter {param} is not of type AWS::EC2::Image::Id")
        elif not (isinstance(image, str) and image.startswith("ami-")):
            problems.append(f"{name}.ImageId is neither an AMI id nor an AMI id parameter")
    return problems


KEY_SETTINGS = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
KEY_GENERATORS = ("os.urandom", "secrets.token_", "Fernet.generate_key", "openssl rand", "/dev/urandom")


@assertion
def airflow_keys_in_secrets_manager(t):
    """Airflow's Fernet key and JWT/API secret keys come from a Secrets Manager secret that
    CloudFormation generates once and the host reads; the host generates none of them."""
    generated = {k for k, r in t.of_type("AWS::SecretsManager::Secret").items()
                 if "GenerateSecretString" in r.get("Properties", {})
                 and any("airflow-keys" in s for s in strings(r["Properties"].get("Name")))}
    if not generated:
        return ["no generated Secrets Manager secret named <ProjectName>/airflow-keys"]
    problems = []
    for host in hosts(t):
        script = "\n".join(strings(t.props(host)["UserData"]))
        for generator in KEY_GENERATORS:
            if generator in script:
                problems.append(f"{host} user data generates key material ({generator})")
        for setting in KEY_SETTINGS:
            if setting not in script:
                problems.append(f"{host} user data does not set {setting}")
        readable = {t.target(res) for st in host_role_statements(t, host)
                    if "secretsmanager:GetSecretValue" in st.get("Action", [])
                    for res in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])}
        if not generated & readable:
            problems.append(f"{host}'s role cannot read the airflow-keys secret")
        sub = t.props(host)["UserData"]
        if not any(t.target(v) in generated for v in find_sub_variables(sub)):
            problems.append(f"{host} user data is not given the airflow-keys secret")
    return problems


def branches(node):
    """The values a node can take (both sides of every Fn::If)."""
    if isinstance(node, dict) and list(node) == ["Fn::If"]:
        return branches(node["Fn::If"][1]) + branches(node["Fn::If"][2])
    return [node]


def load_balancer_groups(t):
    """The security groups attached to a load balancer."""
    return {t.target(sg) for lb in t.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
            for sg in lb.get("Properties", {}).get("SecurityGroups", [])}


def rules(t, group, direction):
    """The ingress or egress rules of a security group: inline ones, then separate resources."""
    inline = "SecurityGroupIngress" if direction == "ingress" else "SecurityGroupEgress"
    kind = "AWS::EC2::SecurityGroupIngress" if direction == "ingress" else "AWS::EC2::SecurityGroupEgress"
    found = list(t.props(group).get(inline, []))
    found += [r["Properties"] for r in t.of_type(kind).values() if t.target(r["Properties"].get("GroupId")) == group]
    return found


def mentions(node, logical_id):
    """A Ref/GetAtt of logical_id, or a ${logical_id} / ${logical_id.Attr} inside a Fn::Sub."""
    if plain_target(node) == logical_id:
        return True
    return any("${" + logical_id + "}" in s or "${" + logical_id + "." in s for s in strings(node))


def plain_target(node):
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return arg
        if fn == "Fn::GetAtt":
            return arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
    return None


@assertion
def airflow_host_stable_ip(t):
    """The Airflow host has an Elastic IP and the ALB's security group admits it on the listener's
    port, so narrowing AlbIngressCidr never cuts Airflow off the service."""
    problems = []
    listener_ports = {port for ls in t.of_type("AWS::ElasticLoadBalancingV2::Listener").values()
                      if ls["Properties"].get("DefaultActions", [{}])[0].get("Type") == "forward"
                      for port in branches(ls["Properties"].get("Port"))}
    for host in hosts(t):
        eips = [k for k, r in t.of_type("AWS::EC2::EIP").items()
                if t.target(r.get("Properties", {}).get("InstanceId")) == host]
        eips += [t.target(r["Properties"].get("AllocationId")) for r in t.of_type("AWS::EC2::EIPAssociation").values()
                 if t.target(r["Properties"].get("InstanceId")) == host]
        if not eips:
            problems.append(f"{host} has no Elastic IP")
            continue
        for group in load_balancer_groups(t):
            admitted = set()
            for rule in rules(t, group, "ingress"):
                if any(mentions(rule.get("CidrIp"), eip) for eip in eips):
                    for lo, hi in zip(branches(rule.get("FromPort")), branches(rule.get("ToPort"))):
                        admitted |= {p for p in listener_ports if int(lo) <= int(p) <= int(hi)}
            if admitted != listener_ports:
                problems.append(f"ALB group {group} does not admit {host}'s Elastic IP on port(s) "
                                f"{sorted(listener_ports - admitted)}")
    if not load_balancer_groups(t):
        problems.append("no load balancer security group")
    return problems


def find_sub_variables(node):
    """The values of every Fn::Sub variable map inside a node."""
    if isinstance(node, dict):
        for fn, arg in node.items():
            if fn == "Fn::Sub" and isinstance(arg, list) and len(arg) == 2:
                yield from arg[1].values()
            yield from find_sub_variables(arg)
    elif isinstance(node, list):
        for n in node:
            yield from find_sub_variables(n)


def truthy(value):
    return value is True or str(value).lower() == "true"


@assertion
def rds_deletion_protection(t):
    """Every RDS instance has deletion protection on by default."""
    dbs = t.of_type("AWS::RDS::DBInstance")
    if not dbs:
        return ["no AWS::RDS::DBInstance"]
    return [f"{name}.DeletionProtection defaults to {t.default(r['Properties'].get('DeletionProtection'))!r}"
            for name, r in dbs.items() if not truthy(t.default(r["Properties"].get("DeletionProtection")))]


@assertion
def rds_backups_7_days(t):
    """Every RDS instance keeps at least 7 days of automated backups by default."""
    dbs = t.of_type("AWS::RDS::DBInstance")
    if not dbs:
        return ["no AWS::RDS::DBInstance"]
    problems = []
    for name, r in dbs.items():
        days = t.default(r["Properties"].get("BackupRetentionPeriod", 1))
        if not str(days).isdigit() or int(days) < 7:
            problems.append(f"{name}.BackupRetentionPeriod defaults to {days!r} (want 7 or more)")
    return problems


def lifecycle_rules(repo):
    text = repo.get("Properties", {}).get("LifecyclePolicy", {}).get("LifecyclePolicyText")
    if text is None:
        return []
    text = text if isinstance(text, str) else next(strings(text))  # a Fn::Sub keeps the JSON as its text
    return json.loads(text).get("rules", [])


@assertion
def ecr_keeps_deployed_tag(t):
    """No ECR lifecycle rule can expire the tag the service runs (the ImageTag parameter): rules
    select untagged images only, or tag prefixes/patterns that ImageTag's AllowedPattern refuses."""
    repos = t.of_type("AWS::ECR::Repository")
    if not repos:
        return ["no AWS::ECR::Repository"]
    allowed = t.params.get("ImageTag", {}).get("AllowedPattern")
    problems = []
    for name, repo in repos.items():
        for rule in lifecycle_rules(repo):
            if rule.get("action", {}).get("type", "expire") != "expire":
                continue
            selection = rule.get("selection", {})
            status = selection.get("tagStatus")
            if status == "untagged":
                continue
            if status != "tagged":
                problems.append(f"{name}: rule {rule.get('rulePriority')} selects tagStatus={status!r}, the deployed tag included")
                continue
            samples = [p + s for p in selection.get("tagPrefixList", []) for s in ("", "0", "a")]
            samples += [p.replace("*", s) for p in selection.get("tagPatternList", []) for s in ("", "0", "a")]
            deployable = [s for s in samples if allowed is None or re.fullmatch(allowed, s)]
            if deployable or not samples:
                problems.append(f"{name}: rule {rule.get('rulePriority')} can select a deployable ImageTag "
                                f"({deployable[:1] or 'any tag'})")
    return problems


@assertion
def alb_egress_explicit(t):
    """The ALB's security group declares its egress inline (which replaces EC2's default
    allow-all), and only to the service's port in the service's security group."""
    groups = load_balancer_groups(t)
    if not groups:
        return ["no load balancer security group"]
    service_groups = {t.target(sg) for svc in t.of_type("AWS::ECS::Service").values()
                      for sg in svc["Properties"].get("NetworkConfiguration", {})
                      .get("AwsvpcConfiguration", {}).get("SecurityGroups", [])}
    ports = {tg["Properties"].get("Port") for tg in t.of_type("AWS::ElasticLoadBalancingV2::TargetGroup").values()}
    problems = []
    for group in groups:
        if not t.props(group).get("SecurityGroupEgress"):
            problems.append(f"{group} has no inline SecurityGroupEgress, so EC2's default allow-all egress stays")
        for rule in rules(t, group, "egress"):
            where = f"{group} egress {rule.get('Description', '')!r}"
            if rule.get("IpProtocol") != "tcp" or rule.get("FromPort") != rule.get("ToPort") \
                    or rule.get("FromPort") not in ports:
                problems.append(f"{where}: not tcp to the target port {sorted(ports)}")
            if any(k in rule for k in ("CidrIp", "CidrIpv6", "DestinationPrefixListId")):
                problems.append(f"{where}: to addresses, not to the service's security group")
            elif t.target(rule.get("DestinationSecurityGroupId")) not in service_groups:
                problems.append(f"{where}: not to the service's security group")
    return problems


@assertion
def log_format_json(t):
    """The deployed service logs JSON lines (LOG_FORMAT=json) on both platforms, which the
    alarms' metric filters need."""
    problems = []
    envs = [(f"{k} container {c.get('Name')}", c.get("Environment", []))
            for k, r in t.of_type("AWS::ECS::TaskDefinition").items()
            for c in r["Properties"].get("ContainerDefinitions", [])]
    envs += [(k, r["Properties"]["SourceConfiguration"].get("ImageRepository", {})
              .get("ImageConfiguration", {}).get("RuntimeEnvironmentVariables", []))
             for k, r in t.of_type("AWS::AppRunner::Service").items()]
    if not envs:
        problems.append("no ECS task definition or App Runner service")
    for where, env in envs:
        values = {e.get("Name"): e.get("Value") for e in env}
        if str(values.get("LOG_FORMAT", "")).lower() != "json":
            problems.append(f"{where}: LOG_FORMAT is {values.get('LOG_FORMAT')!r}, not json")
    return problems


def alarm_topics(t):
    return set(t.of_type("AWS::SNS::Topic"))


def notifies(t, alarm):
    return any(t.target(a) in alarm_topics(t) for a in alarm["Properties"].get("AlarmActions", []))


@assertion
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


@assertion
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


@assertion
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


@assertion
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


# --- self-test: each fix undone in memory must fail its assertion -------------------------------
def undo_platform_default(docs):
    for doc in docs:
        if "ComputePlatform" in doc.get("Parameters", {}):
            doc["Parameters"]["ComputePlatform"]["Default"] = "AppRunner"


def undo_ami_pin(docs):
    for doc in docs:
        for p in doc.get("Parameters", {}).values():
            if p.get("Type") == "AWS::EC2::Image::Id":
                p["Type"] = "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
                p["Default"] = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def undo_airflow_keys(docs):
    for doc in docs:
        for r in doc.get("Resources", {}).values():
            user_data = r.get("Properties", {}).get("UserData")
            if user_data is not None:
                parts = user_data["Fn::Base64"]["Fn::Join"][1]
                parts.append("python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)))'\n")


def undo_airflow_eip(docs):
    for doc in docs:
        res = doc.get("Resources", {})
        for name in [k for k, r in res.items() if r.get("Type") in ("AWS::EC2::EIP", "AWS::EC2::EIPAssociation")]:
            del res[name]


def set_param_default(docs, kind, prop, value):
    for doc in docs:
        for r in doc.get("Resources", {}).values():
            if r.get("Type") == kind:
                node = r["Properties"].get(prop)
                name = node.get("Ref") if isinstance(node, dict) else None
                if name in doc.get("Parameters", {}):
                    doc["Parameters"][name]["Default"] = value
                else:
                    r["Properties"][prop] = value


def undo_ecr_lifecycle(docs):
    for doc in docs:
        for r in doc.get("Resources", {}).values():
            if r.get("Type") == "AWS::ECR::Repository":
                r["Properties"]["LifecyclePolicy"] = {"LifecyclePolicyText": json.dumps({"rules": [{
                    "rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                                     "countNumber": 10}, "action": {"type": "expire"}}]})}


def undo_alb_egress(docs):
    t = Templates(docs)  # shares the resource dicts with docs
    for group in load_balancer_groups(t):
        t.props(group).pop("SecurityGroupEgress", None)


def undo_log_format(docs):
    for doc in docs:
        for r in doc.get("Resources", {}).values():
            for c in r.get("Properties", {}).get("ContainerDefinitions", []):
                c["Environment"] = [e for e in c.get("Environment", []) if e.get("Name") != "LOG_FORMAT"]


def undo_subscription_condition(docs):
    for doc in docs:
        for r in doc.get("Resources", {}).values():
            if r.get("Type") == "AWS::SNS::Subscription":
                r.pop("Condition", None)


def undo_missing_breaching(docs):
    for doc in docs:
        for r in doc.get("Resources", {}).values():
            if r.get("Type") == "AWS::CloudWatch::Alarm" and r["Properties"].get("TreatMissingData") == "breaching":
                r["Properties"]["TreatMissingData"] = "notBreaching"


def undo_5xx_alarm(docs):
    for doc in docs:
        res = doc.get("Resources", {})
        for name in [k for k, r in res.items() if "5XX" in json.dumps(r).upper() and r.get("Type") == "AWS::CloudWatch::Alarm"]:
            del res[name]


def undo_database_filter(docs):
    for doc in docs:
        for r in doc.get("Resources", {}).values():
            if r.get("Type") == "AWS::Logs::MetricFilter":
                pattern = r["Properties"]["FilterPattern"]
                r["Properties"]["FilterPattern"] = pattern.replace("$.fields.message", "$.message")


BALLISTA_PORTS = (50050, 50051)  # the scheduler's gRPC, an executor's Flight


def ballista_groups(t):
    """Security groups of the Ballista cluster's ECS services (infra/cluster.yaml)."""
    groups = set()
    for svc in t.of_type("AWS::ECS::Service").values():
        task = t.target(svc["Properties"].get("TaskDefinition"))
        commands = [c.get("Command", []) for c in t.props(task).get("ContainerDefinitions", [])]
        text = " ".join(s for c in commands for s in strings(c))
        if "scheduler" in text.split()[:1] or " executor " in f" {text} ":
            vpc = svc["Properties"].get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
            groups |= {t.target(g) for g in vpc.get("SecurityGroups", [])}
    return groups


@assertion
def ballista_ports_only(t):
    """The Ballista cluster's security group opens only Ballista's ports (50050-50051), and only
    to the service's group and itself; out, those ports to itself and 443."""
    groups = ballista_groups(t)
    if not groups:
        return ["no Ballista scheduler/executor service"]
    problems = []
    service = t.target({"Fn::ImportValue": {"Fn::Sub": "${ProjectName}:ServiceSecurityGroup"}})
    for g in groups:
        for r in rules(t, g, "ingress"):
            ports = (int(r.get("FromPort", -1)), int(r.get("ToPort", -1)))
            source = t.target(r.get("SourceSecurityGroupId"))
            if ports != BALLISTA_PORTS or source not in (g, service) or "CidrIp" in r:
                problems.append(f"{g}: ingress {ports} from {source or r.get('CidrIp')}")
        for r in rules(t, g, "egress"):
            ports = (int(r.get("FromPort", -1)), int(r.get("ToPort", -1)))
            to_self = t.target(r.get("DestinationSecurityGroupId")) == g
            if not (ports == (443, 443) or (ports == BALLISTA_PORTS and to_self)):
                problems.append(f"{g}: egress {ports} to {r.get('CidrIp') or r.get('DestinationSecurityGroupId')}")
    return problems


def undo_ballista_ports(docs):
    for doc in docs:
        group = doc.get("Resources", {}).get("BallistaSecurityGroup")
        if group:
            group["Properties"]["SecurityGroupIngress"][0]["ToPort"] = 65535
            return
    raise KeyError("BallistaSecurityGroup")


UNDO = {
    platform_default_ecs: undo_platform_default,
    ami_pinned: undo_ami_pin,
    airflow_keys_in_secrets_manager: undo_airflow_keys,
    airflow_host_stable_ip: undo_airflow_eip,
    rds_deletion_protection: lambda docs: set_param_default(docs, "AWS::RDS::DBInstance", "DeletionProtection", "false"),
    rds_backups_7_days: lambda docs: set_param_default(docs, "AWS::RDS::DBInstance", "BackupRetentionPeriod", 1),
    ecr_keeps_deployed_tag: undo_ecr_lifecycle,
    alb_egress_explicit: undo_alb_egress,
    log_format_json: undo_log_format,
    alarm_topic_email: undo_subscription_condition,
    alarm_pipeline_stale: undo_missing_breaching,
    alarm_5xx_rate: undo_5xx_alarm,
    alarm_database_unreachable: undo_database_filter,
    ballista_ports_only: undo_ballista_ports,
}


def run(docs):
    t = Templates(docs)
    return {fn.__name__: fn(t) for fn in ASSERTIONS}


def main(argv):
    self_test = argv[:1] == ["--self-test"]
    paths = argv[1:] if self_test else argv
    if not paths:
        raise SystemExit(__doc__)
    docs = []
    for path in paths:
        doc, matches = decode(path)
        if matches:
            raise SystemExit(f"check_templates: cannot parse {path}: {matches[0]}")
        docs.append(json.loads(json.dumps(doc)))  # plain dicts and lists

    if self_test:
        failed = [fn.__name__ for fn in ASSERTIONS if fn not in UNDO]
        for fn, undo in UNDO.items():
            broken = copy.deepcopy(docs)
            try:
                undo(broken)
            except (KeyError, TypeError, IndexError) as e:  # the template's shape changed: fix the undo
                print(f"check_templates: self-test: undoing {fn.__name__} failed: {e!r}")
                failed.append(fn.__name__)
                continue
            if not fn(Templates(broken)):
                failed.append(fn.__name__)
        if failed:
            print(f"check_templates: self-test: these pass with their fix undone (or have no undo): {', '.join(failed)}")
            return 1
        print(f"check_templates: self-test: each of {len(UNDO)} assertion(s) fails with its fix undone")
        return 0

    results = run(docs)
    for name, problems in results.items():
        print(f"{'ok  ' if not problems else 'FAIL'} {name}")
        for problem in problems:
            print(f"       {problem}")
    bad = sum(1 for p in results.values() if p)
    print(f"check_templates: {len(results) - bad}/{len(results)} assertion(s) hold")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

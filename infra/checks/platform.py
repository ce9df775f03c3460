"""Where and how the service runs: the default platform, JSON logs, the ALB's egress, the ECR lifecycle,
the Ballista cluster's ports."""

import json
import re

from . import assertion
from .model import Templates, each_resource, env_of_services, load_balancer_groups, rules, strings


def undo_platform_default(docs):
    for doc in docs:
        if "ComputePlatform" in doc.get("Parameters", {}):
            doc["Parameters"]["ComputePlatform"]["Default"] = "AppRunner"


@assertion(undo_platform_default)
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


def lifecycle_rules(repo):
    text = repo.get("Properties", {}).get("LifecyclePolicy", {}).get("LifecyclePolicyText")
    if text is None:
        return []
    text = text if isinstance(text, str) else next(strings(text))  # a Fn::Sub keeps the JSON as its text
    return json.loads(text).get("rules", [])


def undo_ecr_lifecycle(docs):
    for _, r in each_resource(docs, "AWS::ECR::Repository"):
        r["Properties"]["LifecyclePolicy"] = {"LifecyclePolicyText": json.dumps({"rules": [{
            "rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                             "countNumber": 10}, "action": {"type": "expire"}}]})}


@assertion(undo_ecr_lifecycle)
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


def undo_alb_egress(docs):
    t = Templates(docs)  # shares the resource dicts with docs
    for group in load_balancer_groups(t):
        t.props(group).pop("SecurityGroupEgress", None)


@assertion(undo_alb_egress)
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


def undo_log_format(docs):
    for _, r in each_resource(docs):
        for c in r.get("Properties", {}).get("ContainerDefinitions", []):
            c["Environment"] = [e for e in c.get("Environment", []) if e.get("Name") != "LOG_FORMAT"]


@assertion(undo_log_format)
def log_format_json(t):
    """The deployed service logs JSON lines (LOG_FORMAT=json) on both platforms, which the
    alarms' metric filters need."""
    envs = env_of_services(t)
    problems = [] if envs else ["no ECS task definition or App Runner service"]
    for where, env in envs:
        if str(env.get("LOG_FORMAT", "")).lower() != "json":
            problems.append(f"{where}: LOG_FORMAT is {env.get('LOG_FORMAT')!r}, not json")
    return problems


BALLISTA_PORTS = (50050, 50051)  # the scheduler's gRPC, an executor's Flight
# Within the cluster also each executor's gRPC (50052), where the scheduler pushes tasks.
BALLISTA_CLUSTER_PORTS = (50050, 50052)


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


def undo_ballista_ports(docs):
    for doc in docs:
        group = doc.get("Resources", {}).get("BallistaSecurityGroup")
        if group:
            group["Properties"]["SecurityGroupIngress"][0]["ToPort"] = 65535
            return
    raise KeyError("BallistaSecurityGroup")


@assertion(undo_ballista_ports)
def ballista_ports_only(t):
    """The Ballista cluster's security group opens only Ballista's ports: 50050-50051 to the
    service's group, 50050-50052 to itself; out, 50050-50052 to itself and 443."""
    groups = ballista_groups(t)
    if not groups:
        return ["no Ballista scheduler/executor service"]
    problems = []
    service = t.target({"Fn::ImportValue": {"Fn::Sub": "${ProjectName}:ServiceSecurityGroup"}})
    for g in groups:
        for r in rules(t, g, "ingress"):
            ports = (int(r.get("FromPort", -1)), int(r.get("ToPort", -1)))
            source = t.target(r.get("SourceSecurityGroupId"))
            allowed = {service: BALLISTA_PORTS, g: BALLISTA_CLUSTER_PORTS}.get(source)
            if ports != allowed or "CidrIp" in r:
                problems.append(f"{g}: ingress {ports} from {source or r.get('CidrIp')}")
        for r in rules(t, g, "egress"):
            ports = (int(r.get("FromPort", -1)), int(r.get("ToPort", -1)))
            to_self = t.target(r.get("DestinationSecurityGroupId")) == g
            if not (ports == (443, 443) or (ports == BALLISTA_CLUSTER_PORTS and to_self)):
                problems.append(f"{g}: egress {ports} to {r.get('CidrIp') or r.get('DestinationSecurityGroupId')}")
    return problems

"""The templates read together, and the helpers every concern's assertions share.

The templates are decoded with cfn-lint's decoder, so short-form tags arrive as {"Ref": ...},
{"Fn::Sub": ...}, ...; several templates are read as one (infra/base.yaml exports what the others
import), and a Fn::ImportValue is followed to the exporting template's value.
"""

import json


class Templates:
    """Parameters, conditions, rules and resources of all templates, plus their exports by name."""

    def __init__(self, docs):
        self.docs = docs
        self.params, self.conditions, self.rules, self.resources, self.exports = {}, {}, {}, {}, {}
        for doc in docs:
            self.params.update(doc.get("Parameters", {}))
            self.conditions.update(doc.get("Conditions", {}))
            self.rules.update(doc.get("Rules", {}))
            self.resources.update(doc.get("Resources", {}))
            for out in doc.get("Outputs", {}).values():
                name = out.get("Export", {}).get("Name")
                if name is not None:
                    self.exports[json.dumps(name, sort_keys=True)] = out["Value"]

    def of_type(self, kind):
        return {k: r for k, r in self.resources.items() if r.get("Type") == kind}

    def props(self, logical_id):
        return self.resources.get(logical_id, {}).get("Properties", {})

    def type_of(self, logical_id):
        return self.resources.get(logical_id, {}).get("Type")

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
        return plain_target(self.resolve(node))

    def attribute(self, node):
        """(logical id, attribute) of a GetAtt (possibly through an import), else (None, None)."""
        node = self.resolve(node)
        if isinstance(node, dict) and list(node) == ["Fn::GetAtt"]:
            arg = node["Fn::GetAtt"]
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return parts[0], parts[1] if len(parts) > 1 else None
        return None, None

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


def branches(node):
    """The values a node can take (both sides of every Fn::If)."""
    if isinstance(node, dict) and list(node) == ["Fn::If"]:
        return branches(node["Fn::If"][1]) + branches(node["Fn::If"][2])
    return [node]


def plain_target(node):
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref" and isinstance(arg, str):
            return arg
        if fn == "Fn::GetAtt":
            return arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
    return None


def mentions(node, logical_id):
    """A Ref/GetAtt of logical_id, or a ${logical_id} / ${logical_id.Attr} inside a Fn::Sub."""
    if plain_target(node) == logical_id:
        return True
    return any("${" + logical_id + "}" in s or "${" + logical_id + "." in s for s in strings(node))


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


def as_list(value):
    return value if isinstance(value, list) else [value]


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


def hosts(t):
    """The EC2 instances that boot from user data (the Airflow host)."""
    return {k: r for k, r in t.of_type("AWS::EC2::Instance").items() if "UserData" in r.get("Properties", {})}


def user_data(t, instance):
    """The text of an instance's user data: every literal string of it, joined."""
    return "\n".join(strings(t.props(instance).get("UserData")))


def host_role(t, instance):
    """The logical id of the IAM role behind the instance's profile."""
    profile = t.target(t.props(instance).get("IamInstanceProfile"))
    roles = [t.target(r) for r in t.props(profile).get("Roles", [])]
    return roles[0] if roles else None


def role_statements(t, role):
    """The IAM statements of a role's inline policies and of the AWS::IAM::Policy resources attached to it."""
    for policy in t.props(role).get("Policies", []):
        yield from policy.get("PolicyDocument", {}).get("Statement", [])
    for policy in t.of_type("AWS::IAM::Policy").values():
        if role in {t.target(r) for r in policy["Properties"].get("Roles", [])}:
            yield from policy["Properties"].get("PolicyDocument", {}).get("Statement", [])


def alarm_topics(t):
    return set(t.of_type("AWS::SNS::Topic"))


def notifies(t, alarm):
    return any(t.target(a) in alarm_topics(t) for a in alarm["Properties"].get("AlarmActions", []))


def env_of_services(t):
    """(where, {name: value}) of every ECS container and App Runner service of the service (not Ballista's)."""
    envs = [(f"{k} container {c.get('Name')}", {e.get("Name"): e.get("Value") for e in c.get("Environment", [])})
            for k, r in t.of_type("AWS::ECS::TaskDefinition").items()
            for c in r["Properties"].get("ContainerDefinitions", [])]
    envs += [(k, {e.get("Name"): e.get("Value") for e in r["Properties"]["SourceConfiguration"]
                  .get("ImageRepository", {}).get("ImageConfiguration", {}).get("RuntimeEnvironmentVariables", [])})
             for k, r in t.of_type("AWS::AppRunner::Service").items()]
    return envs


def each_resource(docs, kind=None):
    """Every resource dict of the decoded templates (for the undo functions, which mutate them)."""
    for doc in docs:
        for name, r in doc.get("Resources", {}).items():
            if kind is None or r.get("Type") == kind:
                yield name, r

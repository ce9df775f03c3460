"""The jobs API's bearer token travels over HTTPS unless plain HTTP was chosen, and /metrics is not public.

Rules and conditions are evaluated for sample parameter values (a small evaluator of Fn::Equals, Fn::Not,
Fn::And, Fn::Or, Condition and Ref), so the assertions check what a deploy would do, not how it is spelled.
"""

from . import assertion
from .model import branches, each_resource, env_of_services, strings

CERT, PLAIN = "AlbCertificateArn", "AllowPlainHttp"
SOME_CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"


def evaluate(t, node, values):
    """The value of a rule or condition expression for parameter values (defaults for the others)."""
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return values.get(arg, t.params.get(arg, {}).get("Default"))
        if fn == "Condition":
            return evaluate(t, t.conditions[arg], values)
        if fn == "Fn::Equals":
            return str(evaluate(t, arg[0], values)) == str(evaluate(t, arg[1], values))
        if fn == "Fn::Not":
            return not evaluate(t, arg[0], values)
        if fn == "Fn::And":
            return all(evaluate(t, a, values) for a in arg)
        if fn == "Fn::Or":
            return any(evaluate(t, a, values) for a in arg)
        if fn == "Fn::If":
            return evaluate(t, arg[1] if evaluate(t, t.conditions[arg[0]], values) else arg[2], values)
        raise ValueError(f"cannot evaluate {fn}")
    return node


def exists(t, logical_id, values):
    """Whether a resource is created for these parameter values (its Condition holds)."""
    condition = t.resources[logical_id].get("Condition")
    return condition is None or evaluate(t, {"Condition": condition}, values)


def deploy_refused(t, values):
    """Whether some Rule refuses a deploy with these parameter values."""
    for rule in t.rules.values():
        if "RuleCondition" in rule and not evaluate(t, rule["RuleCondition"], values):
            continue
        if not all(evaluate(t, a["Assert"], values) for a in rule.get("Assertions", [])):
            return True
    return False


ECS = {"ComputePlatform": "EcsFargate"}
CASES = [  # (parameter values, refused?)
    ({**ECS, CERT: "", PLAIN: "false"}, True),
    ({**ECS, CERT: "", PLAIN: "true"}, False),
    ({**ECS, CERT: SOME_CERT, "AlbDomainName": "api.example.org", PLAIN: "false"}, False),
    ({"ComputePlatform": "AppRunner", CERT: "", PLAIN: "false"}, False),
]


def undo_https_rule(docs):
    for doc in docs:
        doc.get("Rules", {}).pop("HttpsOrExplicitPlainHttp", None)


@assertion(undo_https_rule)
def https_unless_plain_http_chosen(t):
    """An ECS deploy without a certificate is refused unless AllowPlainHttp=true (a template Rule);
    with one, the ALB's forwarding listener is HTTPS under a TLS 1.3 policy and port 80 redirects to it."""
    if CERT not in t.params or t.params.get(PLAIN, {}).get("Default") != "false":
        return [f"no {CERT} parameter, or no {PLAIN} parameter defaulting to false"]
    problems = [f"a deploy with {values} is {'accepted' if refused else 'refused'}"
                for values, refused in CASES if deploy_refused(t, values) != refused]
    with_cert = CASES[2][0]
    listeners = [r["Properties"] for k, r in t.of_type("AWS::ElasticLoadBalancingV2::Listener").items()
                 if exists(t, k, with_cert)]
    forward = [p for p in listeners if p.get("DefaultActions", [{}])[0].get("Type") == "forward"]
    redirect = [p for p in listeners if p.get("DefaultActions", [{}])[0].get("Type") == "redirect"]
    for p in forward:
        if evaluate(t, p.get("Protocol"), with_cert) != "HTTPS" or \
                not str(evaluate(t, p.get("SslPolicy"), with_cert)).startswith("ELBSecurityPolicy-TLS13-"):
            problems.append("with a certificate, the forwarding listener is not HTTPS under a TLS 1.3 policy")
    if not any(p["DefaultActions"][0].get("RedirectConfig", {}).get("Protocol") == "HTTPS"
               and str(p.get("Port")) == "80" for p in redirect):
        problems.append("with a certificate, no listener on 80 redirects to HTTPS")
    return problems


def undo_plain_http_env(docs):
    for _, r in each_resource(docs, "AWS::ECS::TaskDefinition"):
        for c in r["Properties"].get("ContainerDefinitions", []):
            for e in c.get("Environment", []):
                if e.get("Name") == "JOBS_ALLOW_PLAIN_HTTP":
                    e["Value"] = "true"


@assertion(undo_plain_http_env)
def jobs_plain_http_only_when_chosen(t):
    """JOBS_ALLOW_PLAIN_HTTP is true in the service's environment only for an ECS deploy without a
    certificate and with AllowPlainHttp=true; false otherwise (App Runner included)."""
    envs = [(where, env) for where, env in env_of_services(t) if "RAW_URL" in env]  # adrec's, not Ballista's
    problems = [] if envs else ["no service environment"]
    for where, env in envs:
        if "JOBS_ALLOW_PLAIN_HTTP" not in env:
            problems.append(f"{where}: JOBS_ALLOW_PLAIN_HTTP is not set")
            continue
        for values, refused in CASES:
            if refused or not exists(t, where.split()[0], values):
                continue
            wanted = values["ComputePlatform"] == "EcsFargate" and not values[CERT] and values[PLAIN] == "true"
            got = str(evaluate(t, env["JOBS_ALLOW_PLAIN_HTTP"], values)).lower() == "true"
            if got != wanted:
                problems.append(f"{where}: JOBS_ALLOW_PLAIN_HTTP is {got} for {values}")
    return problems


def undo_metrics_rules(docs):
    for doc in docs:
        res = doc.get("Resources", {})
        for name in [k for k, r in res.items() if r.get("Type") in
                     ("AWS::ElasticLoadBalancingV2::ListenerRule", "AWS::WAFv2::WebACLAssociation")]:
            del res[name]


def blocks_metrics_path(statement):
    match = statement.get("ByteMatchStatement", {})
    return "UriPath" in match.get("FieldToMatch", {}) and match.get("SearchString") == "/metrics" \
        and match.get("PositionalConstraint") in ("STARTS_WITH", "EXACTLY")


@assertion(undo_metrics_rules)
def metrics_not_public(t):
    """/metrics is not served to the internet: on ECS a rule of the ALB's forwarding listener answers
    /metrics and /metrics/* itself (4xx); on App Runner a WAF web ACL associated with the service blocks it."""
    problems = []
    for name, ls in t.of_type("AWS::ElasticLoadBalancingV2::Listener").items():
        if ls["Properties"].get("DefaultActions", [{}])[0].get("Type") != "forward":
            continue
        paths, statuses = set(), set()
        for rule in t.of_type("AWS::ElasticLoadBalancingV2::ListenerRule").values():
            p = rule["Properties"]
            if t.target(p.get("ListenerArn")) != name:
                continue
            actions = p.get("Actions", [])
            if actions and actions[0].get("Type") == "fixed-response":
                statuses.add(str(actions[0].get("FixedResponseConfig", {}).get("StatusCode")))
                for c in p.get("Conditions", []):
                    if c.get("Field") == "path-pattern":
                        paths |= set(strings(c.get("PathPatternConfig", {}).get("Values", c.get("Values", []))))
        if not {"/metrics", "/metrics/*"} <= paths or not statuses or not all(s.startswith("4") for s in statuses):
            problems.append(f"{name}: no fixed 4xx response for /metrics and /metrics/*")
    for name in t.of_type("AWS::AppRunner::Service"):
        acls = [t.target(a["Properties"].get("WebACLArn")) for a in t.of_type("AWS::WAFv2::WebACLAssociation").values()
                if t.target(a["Properties"].get("ResourceArn")) == name]
        blocking = [acl for acl in acls for rule in t.props(acl).get("Rules", [])
                    if "Block" in rule.get("Action", {}) and any(blocks_metrics_path(s) for s in branches(rule.get("Statement")))]
        if not blocking:
            problems.append(f"{name}: no web ACL blocks /metrics")
    return problems

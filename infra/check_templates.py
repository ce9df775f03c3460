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


# --- self-test: each fix undone in memory must fail its assertion -------------------------------
def undo_platform_default(docs):
    for doc in docs:
        if "ComputePlatform" in doc.get("Parameters", {}):
            doc["Parameters"]["ComputePlatform"]["Default"] = "AppRunner"


UNDO = {
    platform_default_ecs: undo_platform_default,
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
            undo(broken)
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

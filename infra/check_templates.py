"""Assertions on the CloudFormation templates that a linter cannot know: each one guards a fix
(named in its docstring) and fails on the template from before that fix. They live in infra/checks/,
one module per concern.

    check_templates.py TEMPLATE...              every assertion over the templates together
    check_templates.py --self-test TEMPLATE...  breaks each fix again in memory and expects its
                                                assertion to fail (so that none passes vacuously)

The templates are read together (infra/base.yaml exports what the other stacks import) with
cfn-lint's decoder. Run by scripts/deploy-check.sh with the venv's Python (cfn-lint installed).
"""

import copy
import json
import sys
from pathlib import Path

from cfnlint.decode import decode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checks import ASSERTIONS, UNDO, load_all  # noqa: E402
from checks.model import Templates  # noqa: E402


def run(docs):
    t = Templates(docs)
    return {fn.__name__: fn(t) for fn in ASSERTIONS}


def self_test(docs):
    failed = []
    for fn in ASSERTIONS:
        broken = copy.deepcopy(docs)
        try:
            UNDO[fn](broken)
        except (KeyError, TypeError, IndexError) as e:  # the template's shape changed: fix the undo
            print(f"check_templates: self-test: undoing {fn.__name__} failed: {e!r}")
            failed.append(fn.__name__)
            continue
        if not fn(Templates(broken)):
            failed.append(fn.__name__)
    if failed:
        print(f"check_templates: self-test: these pass with their fix undone: {', '.join(failed)}")
        return 1
    print(f"check_templates: self-test: each of {len(ASSERTIONS)} assertion(s) fails with its fix undone")
    return 0


def main(argv):
    is_self_test = argv[:1] == ["--self-test"]
    paths = argv[1:] if is_self_test else argv
    if not paths:
        raise SystemExit(__doc__)
    load_all()
    docs = []
    for path in paths:
        doc, matches = decode(path)
        if matches:
            raise SystemExit(f"check_templates: cannot parse {path}: {matches[0]}")
        docs.append(json.loads(json.dumps(doc)))  # plain dicts and lists
    if is_self_test:
        return self_test(docs)

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

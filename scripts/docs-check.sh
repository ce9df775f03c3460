#!/usr/bin/env bash
# Proves the offline API reference renders: loads BASE_URL/docs in headless Chromium, checks that
# the rendered DOM names every path of BASE_URL/openapi.json (so the page's JS fetched and rendered
# the spec), then saves a screenshot.
#
#   scripts/docs-check.sh http://127.0.0.1:8080 /tmp/docs.png
#
# Installs Debian's chromium when /usr/bin/chromium is missing (needs root and a Debian mirror).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 BASE_URL OUT_PNG" >&2
    exit 2
fi
BASE_URL=${1%/}
OUT_PNG=$2
START=$(date +%s)

if [[ ! -x /usr/bin/chromium ]]; then
    echo "docs-check: installing chromium…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Flags that keep Chromium off the network (it has no internet here) and fast in a container;
# `timeout` because a page that never settles would otherwise keep headless Chromium up for good.
CHROMIUM=(timeout -k 5 90 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-dev-shm-usage --hide-scrollbars --virtual-time-budget=5000)

# The paths the server says it has.
python3 - "$BASE_URL/openapi.json" >"$WORK/paths" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as r:
    spec = json.load(r)
paths = list(spec.get("paths", {}))
if not paths:
    sys.exit("docs-check: openapi.json has no paths")
print("\n".join(paths))
PY

# The DOM after the page's scripts ran.
if ! "${CHROMIUM[@]}" --user-data-dir="$(mktemp -d -p "$WORK")" --dump-dom "$BASE_URL/docs" \
    >"$WORK/dom.html" 2>"$WORK/chromium-dom.log"; then
    echo "docs-check: chromium --dump-dom failed:" >&2
    tail -n 20 "$WORK/chromium-dom.log" >&2
    exit 1
fi

python3 - "$WORK/dom.html" "$WORK/paths" <<'PY'
import html, re, sys
dom = html.unescape(open(sys.argv[1], encoding="utf-8", errors="replace").read())
paths = open(sys.argv[2]).read().split()
missing = [p for p in paths if p not in dom]
cards = len(re.findall(r'class="op-card"', dom))
if missing:
    sys.exit(f"docs-check: FAIL: the rendered /docs lacks {len(missing)} of {len(paths)} paths: {', '.join(missing)}")
if cards < len(paths):
    sys.exit(f"docs-check: FAIL: only {cards} endpoint cards rendered for {len(paths)} paths")
PY

mkdir -p "$(dirname "$OUT_PNG")"
rm -f "$OUT_PNG"
"${CHROMIUM[@]}" --user-data-dir="$(mktemp -d -p "$WORK")" --window-size=1400,1800 \
    --screenshot="$OUT_PNG" "$BASE_URL/docs" >"$WORK/chromium-shot.log" 2>&1 || true
if [[ ! -s "$OUT_PNG" ]]; then
    echo "docs-check: chromium wrote no screenshot:" >&2
    tail -n 20 "$WORK/chromium-shot.log" >&2
    exit 1
fi

echo "docs-check: OK: $(wc -l <"$WORK/paths") paths rendered by $BASE_URL/docs; screenshot $OUT_PNG ($(($(date +%s) - START)) s)"

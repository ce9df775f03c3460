#!/usr/bin/env bash
# Renders /dashboard in headless Chromium after the demo pipeline and checks that the charts
# hold the data: serves adrec on the course sample logs (data/sample, plus a few bad rows of
# each kind per day so the bad-row bars have something to stack), runs the pipeline for its
# three days and one run that fails, then asserts on the DOM after the page's script ran (one
# bar per published date, bad rows summing to the runs' counts, every served score binned, the
# failed run highlighted with its error, the live table filled from /metrics) and saves
# screenshots. Usage (through scripts/with-pg.sh): dashboard-check.sh BIN [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export ADREC_BIN="$1"
out="${2:-${ADREC_CACHE:-$HOME/.cache/adrec}/dashboard}"
START=$(date +%s)
source "$here/scripts/lib.sh"

if [[ ! -x /usr/bin/chromium ]]; then
    echo "dashboard-check: installing chromium…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi

work=$(mktemp -d /tmp/adrec-dash.XXXXXX)
trap 'stop_adrec; rm -rf "$work"' EXIT
raw="$work/raw"
mkdir -p "$raw"
cp "$here/data/sample/advertiser_ids" "$here/data/sample/product_views" "$here/data/sample/ads_views" "$raw/"
adv=$(sed -n 2p "$raw/advertiser_ids" | tr -d '\r')
days=(2024-11-23 2024-11-24 2024-11-25)
for i in 0 1 2; do
    for _ in $(seq 0 "$i"); do
        echo "$adv,too,many,fields,${days[$i]}" >>"$raw/product_views"
        echo "$adv,p1,view,${days[$i]}" >>"$raw/ads_views"
    done
done
echo "$adv,p1,2024-11-99" >>"$raw/product_views"

start_adrec "$(fresh_db adrec_dashboard)" "$raw" "$work/work"
: >"$work/runs.jsonl"
for d in "${days[@]}"; do
    run_job pipeline "$d" >>"$work/runs.jsonl"
    echo >>"$work/runs.jsonl"
done
run_job top_ctr 2024-11-26 >>"$work/runs.jsonl"   # fails: no filtered data for that day
echo >>"$work/runs.jsonl"
curl -fsS "$ADREC_BASE/stats" >"$work/stats.json"
# Some read traffic for the live table.
for _ in $(seq 20); do curl -fsS -o /dev/null "$ADREC_BASE/recommendations/$adv/TopCTR"; done

CHROMIUM=(timeout -k 5 90 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-dev-shm-usage --hide-scrollbars --virtual-time-budget=7000)

if ! "${CHROMIUM[@]}" --user-data-dir="$(mktemp -d -p "$work")" --dump-dom "$ADREC_BASE/dashboard" \
    >"$work/dom.html" 2>"$work/chromium-dom.log"; then
    echo "dashboard-check: chromium --dump-dom failed:" >&2
    tail -n 20 "$work/chromium-dom.log" >&2
    exit 1
fi

mkdir -p "$out"; cp "$work/dom.html" "$out/dom.html"
python3 - "$work/dom.html" "$work/stats.json" "$work/runs.jsonl" <<'PY'
import html.parser, json, sys

class Dom(html.parser.HTMLParser):
    """Collects elements with their attributes and the chart each one is in."""
    def __init__(self):
        super().__init__()
        self.stack, self.elements, self.text = [], [], {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        chart = a.get("data-chart") or next((e.get("data-chart") for e in reversed(self.stack) if e.get("data-chart")), None)
        e = dict(a, _tag=tag, _chart=chart, _text="")
        self.elements.append(e)
        if tag not in ("br", "img", "meta", "link", "line", "rect", "circle", "polyline", "input"):
            self.stack.append(e)
    def handle_endtag(self, tag):
        if any(e["_tag"] == tag for e in self.stack):
            while self.stack.pop()["_tag"] != tag:
                pass
    def handle_data(self, data):
        for e in self.stack:
            e["_text"] += data

dom = Dom()
dom.feed(open(sys.argv[1], encoding="utf-8").read())
stats = json.load(open(sys.argv[2]))
runs = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
dates = [d["date"] for d in reversed(stats["dates"])]
fail = []

def bars(chart):
    return [e for e in dom.elements if e["_tag"] == "g" and e.get("class") == "bar" and e["_chart"] == chart]

for chart in ("advertisers", "rows", "bad-rows"):
    xs = [b["data-x"] for b in bars(chart)]
    if xs != dates:
        fail.append(f"{chart}: bars {xs} != published dates {dates}")
rows = [float(b["data-total"]) for b in bars("rows")]
if rows != [float(d["rows"]) for d in reversed(stats["dates"])]:
    fail.append(f"rows chart {rows} != /stats rows")
bad = [float(b["data-total"]) for b in bars("bad-rows")]
if bad != [float(r["bad_rows"]) for r in runs[:3]]:
    fail.append(f"bad-rows chart {bad} != runs' bad_rows {[r['bad_rows'] for r in runs[:3]]}")
reasons = {e["data-series"] for e in dom.elements if e["_chart"] == "bad-rows" and e.get("class") == "seg"}
if not {"malformed", "bad_date", "bad_type"} <= reasons:
    fail.append(f"bad-row reasons stacked: {sorted(reasons)}")
points = [e for e in dom.elements if e["_chart"] == "durations" and e.get("class") == "pt"]
if len(points) != 5 * len(dates):
    fail.append(f"durations: {len(points)} points, expected {5 * len(dates)}")
for model in ("top_ctr", "top_product"):
    if not bars(f"scores-{model}"):
        fail.append(f"no score histogram bars for {model}")
jaccard = sum(float(b["data-total"]) for b in bars("jaccard"))
if jaccard != len(stats["model_agreement"]["advertisers"]):
    fail.append(f"jaccard histogram counts {jaccard} advertisers, /stats has {len(stats['model_agreement']['advertisers'])}")
failed = [e for e in dom.elements if e["_tag"] == "tr" and "failed" in e.get("class", "").split()]
if not failed or not any(runs[3]["error"] in e["_text"] for e in failed):
    fail.append("the failed run is not highlighted with its error")
body = next(e for e in dom.elements if e["_tag"] == "body")
polls = int(body.get("data-polls", "0"))
live = [e for e in dom.elements if e["_tag"] == "tr" and e.get("class") == "live-route"]
status = next(e for e in dom.elements if e.get("id") == "live-status")["_text"]
if polls < 2 or "req/s" not in status or not any(e.get("data-route") == "/recommendations/{advertiser_id}/{model}" for e in live):
    fail.append(f"live requests not read from /metrics (polls={polls}, status={status!r}, routes={[e.get('data-route') for e in live]})")
external = [e for e in dom.elements for k in ("src", "href") if str(e.get(k, "")).startswith(("http:", "https:", "//"))]
if external:
    fail.append(f"external references: {external}")
if fail:
    sys.exit("dashboard-check: FAIL:\n  " + "\n  ".join(fail))
print(f"dashboard-check: DOM OK: {len(dates)} dates in each per-date chart, {len(points)} duration points, "
      f"{len(failed)} failed run highlighted, {len(live)} live routes after {polls} polls of /metrics")
PY

mkdir -p "$out"
# The whole page, and a half-scale one (the README's picture: static/dashboard.png, through pngquant).
for shot in "1400,2500,1:dashboard-full.png" "1400,2500,0.5:dashboard-small.png"; do
    IFS=, read -r w h scale <<<"${shot%%:*}"; file="$out/${shot#*:}"
    rm -f "$file"
    "${CHROMIUM[@]}" --user-data-dir="$(mktemp -d -p "$work")" --window-size="$w,$h" --force-device-scale-factor="$scale" \
        --screenshot="$file" "$ADREC_BASE/dashboard" >"$work/chromium-shot.log" 2>&1 || true
    if [[ ! -s "$file" ]]; then
        echo "dashboard-check: chromium wrote no screenshot $file:" >&2
        tail -n 20 "$work/chromium-shot.log" >&2
        exit 1
    fi
done
echo "dashboard-check: OK: screenshots in $out ($(($(date +%s) - START)) s)"

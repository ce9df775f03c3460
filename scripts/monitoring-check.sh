#!/usr/bin/env bash
# Checks infra/monitoring/ with the real tools: promtool check config / test rules, the compose
# file with docker compose's own schema, then a real Prometheus (Debian's) scraping a live adrec
# that ran the demo pipeline, asserting through Prometheus's HTTP API that adrec's series are
# there, the recording rules evaluate and the alerts that should fire do. Every PromQL
# expression of the Grafana dashboard and of the rules must parse (promtool) and name only
# series that adrec exports or the rules record.
# Usage (through scripts/with-pg.sh): monitoring-check.sh BIN
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mon="$here/infra/monitoring"
export ADREC_BIN="$1"
START=$(date +%s)
source "$here/scripts/lib.sh"

install() {
    echo "monitoring-check: installing $*…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v promtool >/dev/null && [[ -x /usr/bin/prometheus ]] || install prometheus

echo "== promtool check config / test rules"
promtool check config "$mon/prometheus.yml"
(cd "$mon" && promtool test rules tests/*.test.yml)

echo "== compose.yaml"
if docker compose version >/dev/null 2>&1; then
    (cd "$mon" && docker compose -f compose.yaml config -q)
else
    command -v docker-compose >/dev/null || install docker-compose
    (cd "$mon" && docker-compose -f compose.yaml config -q)
fi
python3 - "$mon" <<'PY'
# What no schema checks: the files the stack mounts exist, and adrec's image is the repo's.
import os, sys, yaml
mon = sys.argv[1]
c = yaml.safe_load(open(os.path.join(mon, "compose.yaml")))
s = c["services"]
missing = []
for name, svc in s.items():
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith((".", "/")) and not os.path.exists(os.path.join(mon, src)):
            missing.append(f"{name}: {src}")
b = s["adrec"]["build"]
if not os.path.exists(os.path.join(mon, b["context"], b["dockerfile"])):
    missing.append("adrec: Dockerfile")
if missing:
    sys.exit(f"monitoring-check: compose.yaml mounts what does not exist: {missing}")
print("compose.yaml: valid; every mounted file exists")
PY

work=$(mktemp -d /tmp/adrec-mon.XXXXXX)
PROM_PID=
stop_prometheus() {
    if [[ -n $PROM_PID ]]; then
        kill "$PROM_PID" 2>/dev/null || true
        wait "$PROM_PID" 2>/dev/null || true
        PROM_PID=
    fi
}
trap 'stop_prometheus; stop_adrec; rm -rf "$work"' EXIT

echo "== a real Prometheus scraping a live adrec"
start_adrec "$(fresh_db adrec_monitoring)" "$here/data/sample" "$work/work"
for d in 2024-11-23 2024-11-24 2024-11-25; do run_job pipeline "$d" >/dev/null; done
run_job top_ctr 2024-11-26 >/dev/null # fails: nothing filtered for that day
adv=$(sed -n 2p "$here/data/sample/advertiser_ids" | tr -d '\r')
for _ in $(seq 20); do curl -fsS -o /dev/null "$ADREC_BASE/recommendations/$adv/TopCTR"; done

prom_port=$(free_port)
python3 - "$mon/prometheus.yml" "$work/prometheus.yml" "${ADREC_BASE#http://}" "$mon" <<'PY'
# The committed config, scraping the local adrec every second, with the committed rules.
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
c["global"].update(scrape_interval="1s", evaluation_interval="1s")
c["rule_files"] = [f"{sys.argv[4]}/{f}" for f in c["rule_files"]]
job = c["scrape_configs"][0]
job["static_configs"] = [{"targets": [sys.argv[3]]}]
job["scrape_timeout"] = "1s"
yaml.safe_dump(c, open(sys.argv[2], "w"))
PY
promtool check config "$work/prometheus.yml" >/dev/null
/usr/bin/prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
PROM_PID=$!

python3 - "http://127.0.0.1:$prom_port" "$mon" "$work" <<'PY'
import glob, json, os, re, subprocess, sys, time, urllib.parse, urllib.request
prom, mon, work = sys.argv[1:4]

def api(path, **params):
    url = f"{prom}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]

def query(q):
    return api("query", query=q)["result"]

# Scrapes every second and rules every second: wait until both have produced data.
deadline = time.time() + 60
while True:
    try:
        if query('up{job="adrec"} == 1') and query("adrec:pipeline_last_success_age_seconds") \
                and query('ALERTS{alertname="AdrecJobFailed"}') and query("adrec:http_requests:rate5m"):
            break
    except Exception:
        pass
    if time.time() > deadline:
        sys.exit("monitoring-check: FAIL: Prometheus did not scrape adrec and evaluate the rules within 60 s\n"
                 + open(os.path.join(work, "prometheus.log")).read()[-3000:])
    time.sleep(0.5)
time.sleep(2)

fail = []
def expect(what, ok):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fail.append(what)

def value(q):
    r = query(q)
    return float(r[0]["value"][1]) if r else None

expect("adrec is up for Prometheus", value('up{job="adrec"}') == 1)
expect("adrec_http_requests_total has the /recommendations route",
       bool(query('adrec_http_requests_total{route="/recommendations/{advertiser_id}/{model}",status="2xx"}')))
expect("the database is up", value("adrec_database_up") == 1)
expect("the pipeline's last success is a recent timestamp",
       abs(value('adrec_job_last_success_timestamp_seconds{task="pipeline"}') - time.time()) < 600)
expect("the latest published date is 2024-11-25", value("adrec_latest_published_date_timestamp_seconds") == 1732492800)
expect("served-score histograms for both models",
       {r["metric"]["model"] for r in query('adrec_served_score_count > 0')} == {"top_ctr", "top_product"})
expect("recording rule adrec:pipeline_last_success_age_seconds evaluates (< 10 min)",
       0 <= value("adrec:pipeline_last_success_age_seconds") < 600)
expect("recording rule adrec:http_request_duration_seconds:p99_5m evaluates",
       bool(query('adrec:http_request_duration_seconds:p99_5m{route="/recommendations/{advertiser_id}/{model}"}')))
rules = [r for g in api("rules")["groups"] for r in g["rules"]]
bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
expect(f"all {len(rules)} rules evaluate without error {bad or ''}", not bad and len(rules) == 14)
alerts = {(a["labels"]["alertname"], a["labels"].get("task")): a["state"] for a in api("alerts")["alerts"]}
expect(f"AdrecJobFailed fires for top_ctr (alerts: {alerts})", alerts.get(("AdrecJobFailed", "top_ctr")) == "firing")
expect("AdrecPublishedDateStale is pending (the sample's dates are from 2024; for: 10m)",
       alerts.get(("AdrecPublishedDateStale", None)) == "pending")
expect("AdrecPipelineNotSucceeded does not fire (it just succeeded)", ("AdrecPipelineNotSucceeded", None) not in alerts)
expect("AdrecDatabaseUnreachable does not fire", ("AdrecDatabaseUnreachable", None) not in alerts)

# Every PromQL expression of the Grafana dashboard and the rules: parses, and names only
# series that exist in this Prometheus (adrec's, the recorded ones, up).
dash = json.load(open(os.path.join(mon, "grafana/dashboards/adrec.json")))
exprs = [("grafana: " + p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]
import yaml
for f in sorted(glob.glob(os.path.join(mon, "rules/*.yml"))):
    for g in yaml.safe_load(open(f))["groups"]:
        for r in g["rules"]:
            exprs.append((os.path.basename(f) + ": " + r.get("record", r.get("alert")), r["expr"]))
grafana_vars = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}
def concrete(e):
    for k, v in grafana_vars.items():
        e = e.replace(k, v)
    return e
check = {"groups": [{"name": "grafana", "rules": [{"record": f"grafana_expr_{i}", "expr": concrete(e)}
                                                  for i, (_, e) in enumerate(exprs) if _.startswith("grafana")]}]}
path = os.path.join(work, "grafana-exprs.yml")
yaml.safe_dump(check, open(path, "w"))
r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
expect(f"all {len(check['groups'][0]['rules'])} Grafana expressions parse with promtool" + ("" if r.returncode == 0 else ": " + r.stdout + r.stderr),
       r.returncode == 0)
known = set(api("label/__name__/values"))
words = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"}
def names(e):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', concrete(e))
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    found = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", e):
        if not m.group(2) and m.group(1).lower() not in words:
            found.add(m.group(1))
    return found
used = set()
for what, e in exprs:
    n = names(e)
    used |= n
    unknown = n - known
    if unknown:
        expect(f"{what} names series nobody exports: {sorted(unknown)}", False)
expect(f"the {len(exprs)} expressions name {len(used)} series, all exported: {sorted(used)}", used <= known)
ds = yaml.safe_load(open(os.path.join(mon, "grafana/provisioning/datasources/prometheus.yml")))["datasources"][0]["uid"]
uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p.get("targets", [])}
expect(f"every Grafana query uses the provisioned datasource {ds}", uids == {ds})
if fail:
    sys.exit(f"monitoring-check: FAIL: {len(fail)} checks")
PY
echo "monitoring-check: OK ($(($(date +%s) - START)) s)"

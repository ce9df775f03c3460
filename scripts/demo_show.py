"""Pretty-prints adrec API answers for scripts/demo.sh: `demo_show.py KIND < response.json`."""
import json
import sys


def run(r):
    line = (f"== POST /jobs/pipeline?date={r['date']}: {r['status']} in {r['duration_ms']} ms, "
            f"rows in {r['rows_in']}, bad rows skipped {r['bad_rows']}, rows published {r['rows_out']}")
    if r["error"]:
        line += f"  ERROR: {r['error']}"
    print(line)


def top_ctr(b):
    print(f"   date {b['date']}")
    for r in b["recommendations"][:5]:
        print(f"   #{r['rank']:>2} {r['product_id']}  ctr {r['score']:.3f}  "
              f"({r['clicks']} clicks / {r['impressions']} impressions)")
    print(f"   … {len(b['recommendations'])} in all")


def top_product(b):
    for r in b["recommendations"][:5]:
        print(f"   #{r['rank']:>2} {r['product_id']}  {r['views']} views")
    print(f"   … {len(b['recommendations'])} in all")


def history(b):
    for d in b["days"]:
        firsts = {m: (recs[0]["product_id"] if recs else "-") for m, recs in d["models"].items()}
        print(f"   {d['date']}: top_ctr #1 {firsts['top_ctr']}, top_product #1 {firsts['top_product']}")


def stats(b):
    a = b["model_agreement"]
    print(f"   latest {b['latest_date']}, {len(b['dates'])} dates, {b['advertisers']} advertisers; "
          f"the models share {a['mean_overlap']:.1f} products on average (Jaccard {a['mean_jaccard']:.3f})")
    if b["most_changed"]:
        c = b["most_changed"][0]
        print(f"   most changed since {b['previous_date']}: {c['advertiser_id']} (+{c['added']} -{c['removed']})")
    for r in b["last_runs"]:
        print(f"   last {r['task']}: {r['status']} for {r['date']}")


if __name__ == "__main__":
    kind = sys.argv[1]
    {"run": run, "top_ctr": top_ctr, "top_product": top_product, "history": history, "stats": stats}[kind](
        json.load(sys.stdin))

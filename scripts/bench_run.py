"""Runs one command and reports its wall time and peak memory as JSON in the file given by
--out; the command's own output passes through.

    bench_run.py --out RESULT.json [--cgroup-limit BYTES] -- COMMAND [ARGS...]

With --cgroup-limit (root, cgroup v1 or v2), the command runs inside a fresh memory cgroup with
that limit, the deployed shape; the result then also holds the cgroup's peak usage (which counts
page cache too) and whether the kernel's OOM killer struck.
"""
import argparse
import json
import os
import subprocess
import sys
import time

V1 = "/sys/fs/cgroup/memory"
V2 = "/sys/fs/cgroup"


def make_cgroup(limit):
    name = f"adrec-bench-{os.getpid()}"
    if os.path.isdir(V1) and os.access(V1, os.W_OK):
        path = os.path.join(V1, name)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit))
        return path, "v1"
    if os.path.exists(os.path.join(V2, "cgroup.controllers")) and os.access(V2, os.W_OK):
        path = os.path.join(V2, name)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "memory.max"), "w") as f:
            f.write(str(limit))
        return path, "v2"
    return None, None


def read(path, name):
    try:
        with open(os.path.join(path, name)) as f:
            return f.read()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--cgroup-limit", type=int)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    cg, kind = make_cgroup(a.cgroup_limit) if a.cgroup_limit else (None, None)

    def enter():
        if cg:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, preexec_fn=enter)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "max_rss_bytes": usage.ru_maxrss * 1024,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "exit": os.waitstatus_to_exitcode(status),
        "cgroup_limit_bytes": a.cgroup_limit if cg else None,
    }
    if cg:
        peak = read(cg, "memory.max_usage_in_bytes" if kind == "v1" else "memory.peak").strip()
        events = read(cg, "memory.oom_control" if kind == "v1" else "memory.events")
        result["cgroup_peak_bytes"] = int(peak) if peak.isdigit() else None
        result["oom_killed"] = any(
            line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in events.splitlines()
        )
        try:
            os.rmdir(cg)
        except OSError:
            pass
    with open(a.out, "w") as f:
        json.dump(result, f)
    sys.exit(0)


if __name__ == "__main__":
    main()

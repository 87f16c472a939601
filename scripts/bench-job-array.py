#!/usr/bin/env python3
"""Runs a pipeline as a job array, step by step, each task as its own process (one after
another), and as one process, then prints each step's CPU seconds per rank, the largest rank's
share against the mean, the merge step's share of the job, and the two runs' totals.

    scripts/bench-job-array.py CONFIG --world-size 4 [--binary target/release/tokenmill] [-j 2]

CONFIG's work dir and outputs are relative to the current directory, which the script clears
(`out/`) before each run. CPU seconds come from each task's completion marker (user + system
time of the process, /proc/self/stat), the single-process run's from getrusage of the child.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--world-size", type=int, default=4)
    ap.add_argument("--binary", default="target/release/tokenmill")
    ap.add_argument("-j", "--threads", type=int, default=os.cpu_count())
    ap.add_argument("--skip-single", action="store_true", help="do not run the single-process baseline")
    ap.add_argument("--repeat", type=int, default=1, help="run both this many times; report each task's median")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    single = None
    if not args.skip_single:
        cpus, walls = [], []
        for _ in range(args.repeat):
            shutil.rmtree("out", ignore_errors=True)
            before, t0 = children_cpu(), time.time()
            subprocess.run([args.binary, "run", args.config, "-j", str(args.threads), "--progress", "off"], check=True,
                           stdout=subprocess.DEVNULL)
            cpus.append(children_cpu() - before)
            walls.append(time.time() - t0)
        single = {"cpu_secs": statistics.median(cpus), "wall_secs": statistics.median(walls), "runs_cpu_secs": cpus}
        with open("out/work/stats.json") as f:
            s = json.load(f)
        single["documents"] = sum(v["documents"] for v in s["sinks"].values())
        single["tokens"] = sum(v["tokens"] for v in s["sinks"].values())
        single["input_bytes"] = s["input_bytes"]

    plan = json.loads(subprocess.run([args.binary, "plan", args.config, "--world-size", str(args.world_size), "--format", "json",
                                      "-j", str(args.threads)], check=True, capture_output=True, text=True).stdout)
    runs, array_cpus, array_walls = [], [], []
    for _ in range(args.repeat):
        shutil.rmtree("out", ignore_errors=True)
        before, t0 = children_cpu(), time.time()
        for step in plan["steps"]:
            for task in step["tasks"]:
                subprocess.run(task["argv"], check=True, stdout=subprocess.DEVNULL)
        array_cpus.append(children_cpu() - before)
        array_walls.append(time.time() - t0)
        with open("out/work/stats.json") as f:
            runs.append(json.load(f))
    array_cpu, array_wall = statistics.median(array_cpus), statistics.median(array_walls)
    stats = runs[-1]
    # Each task's CPU seconds: the median over the runs.
    for i, s in enumerate(stats["steps"]):
        for j, t in enumerate(s["tasks"]):
            t["cpu_secs"] = statistics.median(r["steps"][i]["tasks"][j]["cpu_secs"] for r in runs)

    total = sum(t["cpu_secs"] for s in stats["steps"] for t in s["tasks"])
    rows = []
    print(f"{'step':<18} {'tasks':>5} {'cpu s (per rank)':<44} {'share':>7} {'max/mean':>9}")
    for s in stats["steps"]:
        cpu = [t["cpu_secs"] for t in s["tasks"]]
        step_total = sum(cpu)
        mean = step_total / len(cpu)
        ratio = max(cpu) / mean if mean > 0 else 1.0
        rss = max((t.get("peak_rss_bytes") or 0) for t in s["tasks"])
        rows.append({"step": s["name"], "cpu_secs": cpu, "share": step_total / total, "max_over_mean": ratio,
                     "peak_rss_bytes": rss, "input_bytes": [t["input_bytes"] for t in s["tasks"]]})
        per = " ".join(f"{c:.1f}" for c in cpu)
        print(f"{s['name']:<18} {len(cpu):>5} {per:<44} {100 * step_total / total:>6.2f}% {ratio:>9.3f}")
    docs = sum(v["documents"] for v in stats["sinks"].values())
    tokens = sum(v["tokens"] for v in stats["sinks"].values())
    print(f"job array: {total:.1f} CPU s in the tasks ({array_cpu:.1f} s measured by the parent), {array_wall:.1f} s wall, "
          f"{docs} documents, {tokens} tokens")
    if single:
        print(f"one process: {single['cpu_secs']:.1f} CPU s, {single['wall_secs']:.1f} s wall, {single['documents']} documents, "
              f"{single['tokens']} tokens; job array / one process CPU = {total / single['cpu_secs']:.3f}")
        if (docs, tokens) != (single["documents"], single["tokens"]):
            print("error: the job array's dataset differs from the single process's", file=sys.stderr)
            sys.exit(1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"world_size": args.world_size, "threads": args.threads, "steps": rows, "array_cpu_secs": total,
                       "array_wall_secs": array_wall, "single": single, "documents": docs, "tokens": tokens,
                       "input_bytes": stats["input_bytes"]}, f, indent=2)


if __name__ == "__main__":
    main()

"""Run every benchmark (``--quick`` is passed through) and print one combined table from their result files.

    python benchmarks/run_all.py            # the full measurements: several hours on a 2-core machine
    python benchmarks/run_all.py --quick    # every script end to end with tiny draws
    python benchmarks/run_all.py --only overhead backends
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import common

SCRIPTS = ["overhead", "backends", "scaling", "sweep_throughput", "recovery"]


def headline(name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures each result file is about, as (benchmark, figure, value, target) rows."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, value: Any, target: str = "") -> None:
        rows.append({"benchmark": name, "figure": figure, "value": value, "target": target})

    if name == "overhead":
        ab, run = data.get("train_vs_bare"), data.get("mmm_run")
        if ab:
            add("mmm train / bare Meridian (median wall)", ab["ratio"], "<= 1.10")
            add("mmm train sampling share", ab["summary"]["mmm_train"]["sampling_share"])
            add("ROI-mean gap mmm vs bare (max rel.)", ab["max_roi_relative_gap"])
        if run:
            add(f"mmm run training={run['preset']}: non-sampling share", run["non_sampling_share"], "< 0.10")
    elif name == "backends":
        for row in data["summary"]:
            add(f"{row['case']}: wall s / min ESS per s", f"{row['wall_seconds']:.1f} / {row['min_ess_per_s']:.2f}")
        add("best min ESS per s (default)", f"{data['best_ess_per_s']} ({data['project_default']})",
            "default = best")
    elif name == "scaling":
        for axis, fitted in data["exponents"].items():
            if fitted:
                add(f"{axis}: exponent sampling s / memory", f"{fitted['sampling_seconds']:.2f} / "
                    f"{fitted['peak_rss_above_import']:.2f}")
        for key, geos in data["memory_model"]["max_geos_16gb"].items():
            add(f"max geos on 16 GB: {key}", round(geos) if geos is not None else "n/a")
    elif name == "sweep_throughput":
        for row in data["summary"]:
            add(f"{row['case']}: seconds (speed-up)", f"{row['median_seconds']:.1f} ({row['speedup_vs_sequential']:.2f}x)")
    else:
        for key, value in data.items():
            if isinstance(value, (int, float, str)) and key != "quick":
                add(key, value)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run only these")
    args = parser.parse_args(argv)
    failed: list[str] = []
    ran: list[str] = []
    for name in args.only or SCRIPTS:
        script = common.BENCH_DIR / f"{name}.py"
        if not script.exists():
            print(f"== {name}: {script.name} not present, skipped")
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        status = subprocess.run([sys.executable, str(script), *(["--quick"] if args.quick else [])]).returncode
        print(f"== {name}: exit {status} after {time.perf_counter() - started:.0f} s", flush=True)
        (failed if status else ran).append(name)
    rows: list[dict[str, Any]] = []
    for name in ran:
        path = common.RESULTS_DIR / f"{name}.json"
        if path.exists():
            rows += headline(name, json.loads(path.read_text()))
    print("\nCombined results" + (" (--quick: checks the scripts, not measurements)" if args.quick else "") + ":")
    print(common.table(rows, ["benchmark", "figure", "value", "target"]))
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

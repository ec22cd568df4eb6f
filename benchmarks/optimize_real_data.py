"""Optimize on the real Conjura brand vs the embedded demo, same sampler preset: the stage's time must not depend on
how far the budget bounds reach.

    python benchmarks/optimize_real_data.py --root /tmp/optbench [--preset default]

For each dataset it runs `mmm optimize` (upstream stages built or reused under ``<root>/<dataset>``; the Conjura fit
is accepted below the plausibility gate so optimize can run), then prints the optimize stage's seconds, the number
of response-curve points per channel, the largest spend multiple the bounds allow, and the Conjura / demo ratio.
Run it once with the default bounds of each config and once with share bounds that make a tiny channel reach far
(``--far``: Conjura with 5 %-40 % share bounds, as a new user first met them, meta_other allowed up to ~800x).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from common import save  # type: ignore[import-not-found]

REPO = Path(__file__).resolve().parents[1]
DATASETS = {"demo": [], "conjura": ["--config-dir", str(REPO / "examples/conf"), "data=conjura_apparel",
                                    "complexity.plausibility.on_failure=warn"]}
FAR = ["optimization.platform_constraints.min_spend_pct=0.05", "optimization.platform_constraints.max_spend_pct=0.4",
       "optimization.platform_constraints.min_spend_ratio=null", "optimization.platform_constraints.max_spend_ratio=null",
       "optimization.platform_constraints.on_current_mix_outside=warn"]


def run(dataset: str, root: Path, preset: str, far: bool) -> dict[str, object]:
    args = [sys.executable, "-m", "mmm_meridian.cli", "optimize", *DATASETS[dataset], f"training={preset}",
            f"paths.root={root / dataset}", "tracking.enabled=false", "runtime.upstream_policy=rebuild"]
    if far:
        args += FAR
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{dataset}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    folder = next((root / dataset / "artifacts").glob("*/optimize"))  # <project.name>/optimize
    manifest = json.loads((folder / "manifest.json").read_text())
    curves = pd.read_csv(folder / "response_curves.csv")
    summary = json.loads((folder / "summary.json").read_text())
    return {"dataset": dataset, "far_bounds": far, "optimize_seconds": manifest["timings"]["seconds"],
            "process_seconds": round(wall, 1),
            "curve_points_per_channel": int(curves.groupby("channel").size().max()),
            "max_bound_multiple": round(max(r["max_scale"] for r in summary["bounds_reach"]), 1),
            "recommendation": summary["recommendation"]["status"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--far", action="store_true", help="also run Conjura with the far-reaching share bounds")
    args = parser.parse_args()
    rows = [run("demo", args.root, args.preset, False), run("conjura", args.root, args.preset, False)]
    if args.far:
        rows.append(run("conjura", args.root, args.preset, True))
    table = pd.DataFrame(rows)
    demo = float(table.loc[table["dataset"] == "demo", "optimize_seconds"].iloc[0])
    table["ratio_to_demo"] = (table["optimize_seconds"] / demo).round(2)
    print(table.to_string(index=False))
    save("optimize_real_data", {"preset": args.preset, "rows": rows})


if __name__ == "__main__":
    main()

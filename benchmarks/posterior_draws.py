"""How optimize's and report's answers move with the number of posterior draws they evaluate, and what each costs.

Takes a root where ``mmm run`` already ran on the demo (default preset: 4 chains x 1,000 kept = 4,000 draws), then
re-runs ``mmm optimize`` and ``mmm report`` with ``optimization.max_posterior_draws`` and
``reports.max_posterior_draws`` both set to each value (``null``: every draw), one at a time, and compares:

- optimize: the recommended budget shares (largest absolute difference from every draw's plan, in points), the
  expected lift of the current-budget plan and its 90 % interval, P(beats the current mix), seconds;
- report: the marginal ROI table (largest relative difference of a channel's mean) and the decomposition's
  channel shares (largest absolute difference, points), seconds.

    mmm run paths.root=/tmp/wr tracking.enabled=false
    python benchmarks/posterior_draws.py --root /tmp/wr --draws 250 500 1000 2000 null
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import common
import pandas as pd


def one(root: Path, draws: str) -> dict[str, Any]:
    keys = [f"optimization.max_posterior_draws={draws}", f"reports.max_posterior_draws={draws}"]
    seconds = {}
    for stage in ("optimize", "report"):
        measured = common.run_command(f"{stage} {draws}", common.mmm_command(stage, root, *keys), timeout=3600)
        seconds[stage] = measured.seconds
    art = next(root.glob("artifacts/*/optimize")).parent
    allocation = pd.read_csv(art / "optimize/allocation.csv").set_index("channel")
    summary = json.loads((art / "optimize/summary.json").read_text())
    roi = pd.read_csv(art / "report/dashboard/roi.csv").set_index("channel")
    attribution = pd.read_csv(art / "report/attribution_report.csv").set_index("channel")
    lift = summary["expected_lift"]
    return {"draws": draws, "optimize_s": round(seconds["optimize"], 1), "report_s": round(seconds["report"], 1),
            "shares": allocation["recommended_share"], "lift": lift["mean"], "lift_lo": lift["lo"],
            "lift_hi": lift["hi"], "prob_beats": summary["prob_beats_current"], "mroi": roi["mroi_mean"],
            "contribution": attribution["contribution_share"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--draws", nargs="+", default=["250", "500", "1000", "2000", "null"])
    args = parser.parse_args()
    runs = [one(args.root, d) for d in args.draws]
    ref = next((r for r in runs if r["draws"] == "null"), runs[-1])
    rows = [{"draws": r["draws"], "optimize_s": r["optimize_s"], "report_s": r["report_s"],
             "max_share_diff_pts": round(100 * (r["shares"] - ref["shares"]).abs().max(), 2),
             "lift": round(r["lift"]), "lift_lo": round(r["lift_lo"]), "lift_hi": round(r["lift_hi"]),
             "prob_beats": r["prob_beats"],
             "max_mroi_rel_diff": round(float(((r["mroi"] - ref["mroi"]) / ref["mroi"]).abs().max()), 4),
             "max_contribution_diff_pts": round(100 * float((r["contribution"] - ref["contribution"]).abs().max()), 2)}
            for r in runs]
    print(common.table(rows, list(rows[0])))
    common.save("posterior_draws", {"rows": rows})


if __name__ == "__main__":
    main()

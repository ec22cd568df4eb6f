"""Evaluate's holdout refit under lighter samplers: does the score of the held-out weeks move, and does the refit
still pass the convergence gate?

Takes a root where ``mmm run`` (or ``mmm train``) already ran on the demo, then refits the main fit's job with the
last 13 weeks held out, exactly as evaluate does (its own process, no prior draws), once per candidate sampler and
seed, one at a time. Per refit: sampling and process seconds, the gate's verdict (min ESS / max R-hat on the media
parameters), and the holdout's MAPE, R-squared and 80 % predictive-interval coverage. The main sampler's seed spread
is the yardstick a lighter sampler's scores must stay inside; the production preset's refit is what evaluate ran
before ``evaluation.refit_sampler`` capped it at the default preset's counts.

    mmm run paths.root=/tmp/wr tracking.enabled=false     # the default preset's fit to evaluate
    PYTHONPATH=. python benchmarks/refit_sampler.py --root /tmp/wr --seeds 42 43
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from mmm_meridian import models  # noqa: E402
from mmm_meridian.config import load_config  # noqa: E402
from mmm_meridian.evaluate.metrics import score, scored_in_sample  # noqa: E402
from mmm_meridian.evaluate.refit import refit_job, run_refit  # noqa: E402 (waits for each refit)
from mmm_meridian.models.jobs import job_from_config  # noqa: E402

# name -> (n_chains, n_adapt, n_burnin, n_keep)
CANDIDATES = {"production preset": (10, 2000, 500, 1000), "main (default preset)": (4, 500, 500, 1000), "4 x (500+200+500)": (4, 500, 200, 500),
              "4 x (300+100+500)": (4, 300, 100, 500), "2 x (500+200+1000)": (2, 500, 200, 1000)}


def refit_once(base: Any, env: dict[str, str], out: Path, name: str, sampler: tuple[int, int, int, int],
               seed: int, weeks: int) -> dict[str, Any]:
    chains, adapt, burnin, keep = sampler
    job = dataclasses.replace(base, sampler={**base.sampler, "n_chains": chains, "n_adapt": adapt,
                                             "n_burnin": burnin, "n_keep": keep, "seed": seed})
    job = refit_job(job, f"refit {name} seed {seed}", holdout_weeks=weeks, interval=0.8)
    started = time.perf_counter()
    result = run_refit(job, out / f"{chains}-{adapt}-{burnin}-{keep}-{seed}", env, 3600)
    wall = time.perf_counter() - started
    held = score(result.predictions, result.predictions["holdout"])
    fitted = score(result.predictions, scored_in_sample(result.predictions))
    d = result.diagnostics
    return {"sampler": name, "seed": seed, "wall_s": round(wall, 1), "sampling_s": round(d["sampling_seconds"], 1),
            "converged": d["converged"], "min_ess": round(d["min_ess"]), "max_rhat": round(d["max_rhat"], 4),
            "holdout_mape": round(held["mape"], 4), "holdout_r2": round(held["r2"], 3),
            "holdout_coverage_80": round(held["coverage"], 3), "in_sample_coverage_80": round(fitted["coverage"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    parser.add_argument("--save-as", default="refit_sampler", help="results/<name>.json")
    args = parser.parse_args()
    cfg = load_config([f"paths.root={args.root}", "tracking.enabled=false"])
    features = next(args.root.glob("artifacts/*/features/feature_spec.json")).parent
    engine = models.for_config(cfg)
    plan = engine.plan(cfg.runtime)
    base = job_from_config(cfg, features, plan, label="refit")
    out = args.root / "refit_sampler_bench"
    rows = [refit_once(base, engine.child_env(plan), out, name, sampler, seed, args.weeks)
            for name, sampler in CANDIDATES.items() if not args.only or name in args.only
            for seed in args.seeds]
    print(common.table(rows, list(rows[0])))
    common.save(args.save_as, {"rows": rows})


if __name__ == "__main__":
    main()

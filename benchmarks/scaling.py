"""How fit time and peak memory grow with weeks, channels and geos, and where a 16 GB GPU runs out of memory.

Data from the seeded simulator (``mmm_meridian.simulate``), turned into the features stage's two files (media =
impressions, spend, population = relative geo size, no controls, the pipeline's default priors, one knot every 26
weeks), each point fitted by ``bare_meridian.fit`` in a fresh process with a fixed small sampler (1 chain x
100 adapt / 100 burn-in / 100 kept, 100 prior draws). One axis varies at a time around a base of 104 weeks,
6 channels, 1 geo (the geo axis uses 104 weeks, 6 channels).

Memory model used for the extrapolation (an assumption, checked only as far as the fitted exponents allow): above
the import baseline, peak memory while sampling ~ chains x geos x weeks x channels, and while computing outputs
(ROI, incremental revenue) ~ draws x geos x weeks x channels, where "draws" is what is evaluated at once (Meridian
reconstructs and analyses in batches of 100 draws by default: ``sample_posterior(reconstruction_batch_size=100)``,
``Analyzer`` ``batch_size=100``).

    python benchmarks/scaling.py            # all axes: about 20-30 min on a quiet 2-core machine
    python benchmarks/scaling.py --quick    # two points per axis, tiny draws: checks the script only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import common
import numpy as np
import pandas as pd

AXES = {"weeks": [52, 104, 156, 260], "channels": [3, 6, 10, 15], "geos": [1, 5, 10, 25, 50]}
QUICK_AXES = {"weeks": [52, 104], "channels": [3, 6], "geos": [1, 5]}
BASE = {"weeks": 104, "channels": 6, "geos": 1}
SAMPLER = {"n_chains": 1, "n_adapt": 100, "n_burnin": 100, "n_keep": 100, "n_prior_draws": 100, "seed": 42}
QUICK_SAMPLER = {"n_chains": 1, "n_adapt": 10, "n_burnin": 10, "n_keep": 10, "n_prior_draws": 10, "seed": 42}
GPU_BYTES = 16e9
PRODUCTION = {"chains": 10, "draws": 10 * 1000, "weeks": 156, "channels": 10}


def make_inputs(weeks: int, channels: int, geos: int, out: Path, cfg: Any) -> tuple[Path, Path]:
    """Simulated model inputs and a feature spec (``cfg``'s default priors and adstock) for one point."""
    from mmm_meridian.features.priors import all_channel_priors
    from mmm_meridian.simulate import DEFAULT_CHANNELS, SimulationSpec, simulate

    truths = tuple(dataclasses.replace(DEFAULT_CHANNELS[i % len(DEFAULT_CHANNELS)],
                                       name=f"{DEFAULT_CHANNELS[i % len(DEFAULT_CHANNELS)].name}_{i}")
                   for i in range(channels))
    series = tuple((f"org{i}", "GB") for i in range(geos))
    scales = tuple(np.round(np.linspace(0.5, 1.5, geos), 3)) if geos > 1 else (1.0,)
    weekly = simulate(SimulationSpec(n_weeks=weeks, series=series, series_scale=scales, channels=truths,
                                     seed=7)).weekly
    names = [t.name for t in truths]
    inputs = pd.DataFrame({"time": pd.to_datetime(weekly["week_start"]), "geo": weekly["mmm_timeseries_id"],
                           "revenue": weekly["all_purchases_original_price"].astype(float)})
    for name in names:
        inputs[f"{name}__media"] = weekly[f"{name}_impressions"].astype(float)
        inputs[f"{name}__spend"] = weekly[f"{name}_spend"].astype(float)
    size = inputs.groupby("geo")["revenue"].mean()
    inputs["population"] = inputs["geo"].map(size / size.max()).astype(float)
    priors = all_channel_priors(names, cfg.features, cfg.model)
    spec = {"channels": [{"channel": n, "priors": p.to_dict()} for n, p in zip(names, priors, strict=True)],
            "controls": [], "knots": max(2, math.ceil(weeks / 26) + 1), "max_lag": cfg.features.adstock.max_lag,
            "decay_function": cfg.features.adstock.decay_function.value,
            "hill_before_adstock": cfg.model.hill_before_adstock, "holdout_weeks": 0}
    out.mkdir(parents=True, exist_ok=True)
    inputs.to_parquet(out / "model_inputs.parquet", index=False)
    (out / "feature_spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return out / "model_inputs.parquet", out / "feature_spec.json"


def fit_point(point: dict[str, int], sampler: dict[str, int], tmp: Path, cfg: Any) -> dict[str, Any]:
    inputs, spec = make_inputs(point["weeks"], point["channels"], point["geos"],
                               tmp / f"w{point['weeks']}_c{point['channels']}_g{point['geos']}", cfg)
    code = f"""
    import sys
    sys.path.insert(0, {str(common.BENCH_DIR)!r})
    from bare_meridian import fit
    result = fit({str(inputs)!r}, {str(spec)!r}, **{sampler!r})
    result.pop("roi_mean", None)
    """
    try:
        measured = common.run_python(str(point), code, env={"TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=3600)
    except RuntimeError as exc:  # e.g. Meridian's pre-fit checks refusing a point: record it and go on
        return {**point, "error": str(exc).strip().splitlines()[-1][:300]}
    return {**point, "wall_seconds": measured.seconds, "peak_rss_mb": measured.peak_rss_mb, **measured.output}


def baseline_rss_mb() -> float:
    """Peak memory of a process that only imports Meridian (what every fit pays before any data)."""
    return common.run_python("import", "import meridian\nresult = {}").peak_rss_mb


def exponents(rows: list[dict[str, Any]], axis: str, baseline: float) -> dict[str, float]:
    ok = [r for r in rows if "error" not in r]
    if len(ok) < 2:
        return {}
    sizes = [r[axis] for r in ok]
    return {"sampling_seconds": common.growth_exponent(sizes, [r["sampling_seconds"] for r in ok]),
            "wall_seconds": common.growth_exponent(sizes, [r["wall_seconds"] for r in ok]),
            "peak_rss_above_import": common.growth_exponent(
                sizes, [max(r["peak_rss_mb"] - baseline, 1.0) for r in ok])}


def memory_model(rows: list[dict[str, Any]], baseline: float, sampler: dict[str, int]) -> dict[str, Any]:
    """Fit MB per (geo x week x channel) unit for sampling (per chain) and outputs (per draw evaluated), and
    extrapolate to the production sampler on a 16 GB GPU."""
    ok = [r for r in rows if "error" not in r]
    units = np.array([r["geos"] * r["weeks"] * r["channels"] for r in ok], dtype=float)
    sampling = np.array([r["peak_rss_after_sampling_mb"] - baseline for r in ok])
    outputs = np.array([r["peak_rss_mb"] - baseline for r in ok])
    slope_s, fixed_s = np.polyfit(units, sampling, 1)
    slope_o, fixed_o = np.polyfit(units, outputs, 1)
    # A slope that is not clearly positive means memory did not grow measurably over the points (the ~1-2 GB of
    # libraries dominate small models): no extrapolation then, rather than a meaningless huge number.
    resolved = len(ok) >= 3 and slope_s > 0 and slope_o > 0
    per_chain = slope_s / sampler["n_chains"]  # MB per unit per chain
    per_draw = slope_o / min(sampler["n_chains"] * sampler["n_keep"], 100)  # MB per unit per draw evaluated
    budget_mb = GPU_BYTES / 1e6 - max(fixed_s, fixed_o, 0.0)
    wc = PRODUCTION["weeks"] * PRODUCTION["channels"]

    def geos_fitting(mb_per_unit: float) -> float | None:
        return budget_mb / (mb_per_unit * wc) if resolved else None

    return {"resolved": resolved, "mb_per_unit_per_chain_sampling": per_chain,
            "mb_per_unit_per_draw_outputs": per_draw, "fixed_mb": max(fixed_s, fixed_o),
            "assumption": "memory above imports ~ chains (sampling) or draws evaluated at once (outputs) x geos x "
                          "weeks x channels; CPU RSS as a proxy for GPU memory; the outputs term is an upper bound "
                          "(the process peak includes sampling)",
            "at": {"weeks": PRODUCTION["weeks"], "channels": PRODUCTION["channels"]},
            "max_geos_16gb": {
                "sampling_10_chains_at_once": geos_fitting(per_chain * PRODUCTION["chains"]),
                "sampling_chain_batch_size_2": geos_fitting(per_chain * 2),
                "outputs_all_10000_draws_at_once": geos_fitting(per_draw * PRODUCTION["draws"]),
                "outputs_batches_of_100_draws": geos_fitting(per_draw * 100)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two points per axis, tiny draws: checks the script")
    parser.add_argument("--axes", nargs="+", choices=list(AXES), default=list(AXES), help="axes to measure")
    args = parser.parse_args(argv)
    axes = QUICK_AXES if args.quick else AXES
    sampler = QUICK_SAMPLER if args.quick else SAMPLER
    from mmm_meridian.config import load_config

    cfg = load_config([])
    baseline = baseline_rss_mb()
    print(f"import-only baseline: {baseline:.0f} MB; sampler {sampler}", flush=True)
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="mmm-bench-scaling-") as tmp:
        for axis in args.axes:
            results[axis] = []
            for size in axes[axis]:
                point = {**BASE, axis: size}
                row = fit_point(point, sampler, Path(tmp), cfg)
                results[axis].append(row)
                print(f"  {axis}={size}: " + (f"FAILED {row['error']}" if "error" in row else
                      f"{row['wall_seconds']:.1f} s wall, sampling {row['sampling_seconds']:.1f} s, peak "
                      f"{row['peak_rss_mb']:.0f} MB"), flush=True)
    fitted = {axis: exponents(rows, axis, baseline) for axis, rows in results.items()}
    print("\nGrowth exponents (slope of log value vs log size; 1 = linear):")
    print(common.table([{"axis": a, **e} for a, e in fitted.items()],
                       ["axis", "sampling_seconds", "wall_seconds", "peak_rss_above_import"]))
    memory = memory_model([r for rows in results.values() for r in rows], baseline, sampler)
    print(f"\nMemory model ({memory['assumption']}):")
    print(f"  sampling {memory['mb_per_unit_per_chain_sampling'] * 1e3:.3f} KB per geo-week-channel per chain; "
          f"outputs {memory['mb_per_unit_per_draw_outputs'] * 1e3:.3f} KB per geo-week-channel per draw")
    print(f"  geos that fit a 16 GB GPU at {PRODUCTION['weeks']} weeks x {PRODUCTION['channels']} channels, "
          "production sampler (10 chains x 1000 kept):")
    for name, geos in memory["max_geos_16gb"].items():
        print(f"    {name}: " + (f"{geos:,.0f}" if geos is not None else
                                  "n/a (memory did not grow measurably across the points: needs >= 3 larger ones)"))
    print("  settings: runtime.chain_batch_size bounds the sampling term (chains sampled in groups); "
          "Meridian 2.1's sample_posterior(reconstruction_batch_size=...) and Analyzer batch_size bound the outputs.")
    path = common.save("scaling", {"quick": args.quick, "sampler": sampler, "base": BASE,
                                   "import_baseline_mb": baseline, "points": results, "exponents": fitted,
                                   "memory_model": memory})
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

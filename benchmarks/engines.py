"""Both engines on the same data and the same kept draws, in one run: recovery and speed side by side.

Every (dataset, engine) pair is one fit in its own process, run one at a time (timed alone): the simulator's
national series and its 4-geo set at each seed, fitted by the Meridian engine (JAX) and the PyMC engine (numpyro),
both with the pipeline's defaults and the same sampler preset; the PyMC engine's other installed samplers run on
the first national dataset. Per fit: the share of true ROIs inside the 90 % interval, the posterior-mean ROI's
absolute relative error, sampling seconds, the ROI parameter's smallest bulk ESS per second of sampling, and the
fitting process's peak memory. Usage::

    PYTHONPATH=. python benchmarks/engines.py --preset default --seeds 1 2 3 \
        --checkpoint benchmarks/results/engines_fits.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.recovery import QUICK, fit_one, study_arguments  # noqa: E402

# (engine label, backend flag of recovery.fit_one, overrides): the default samplers of both engines.
ENGINES = {"meridian (jax)": ("jax", []), "pymc (numpyro)": ("pymc", [])}
# The PyMC engine's other samplers, where installed (training.sampler.nuts_sampler).
OTHER_SAMPLERS = {"pymc (pymc)": ("pymc", "pymc"), "pymc (nutpie)": ("nutpie", "nutpie"),
                  "pymc (blackjax)": ("blackjax", "blackjax")}


def plan_fits(seeds: list[int], kinds: list[str]) -> list[tuple[str, int, str]]:
    """(kind, seed, engine label) for every fit: both engines on every dataset, other samplers on the first."""
    fits = [(kind, seed, label) for kind in kinds for seed in seeds for label in ENGINES]
    extra = [label for label, (module, _) in OTHER_SAMPLERS.items() if find_spec(module) is not None]
    return fits + [(kinds[0], seeds[0], label) for label in extra]


def _overrides(label: str) -> tuple[str, list[str]]:
    if label in ENGINES:
        return ENGINES[label]
    return "pymc", [f"training.sampler.nuts_sampler={OTHER_SAMPLERS[label][1]}"]


def run(seeds: list[int], kinds: list[str], preset: str, quick: bool, checkpoint: Path | None) -> pd.DataFrame:
    """Fit every planned (kind, seed, engine) one at a time; returns one row per channel per fit."""
    done: dict[tuple[str, int, str], pd.DataFrame] = {}
    if checkpoint is not None and checkpoint.exists():
        for line in checkpoint.read_text(encoding="utf-8").splitlines():
            frame = pd.DataFrame(json.loads(line))
            if str(frame["preset"].iloc[0]) == preset:
                done[(str(frame["kind"].iloc[0]), int(frame["seed"].iloc[0]), str(frame["engine"].iloc[0]))] = frame
    plan = plan_fits(seeds, kinds)
    with tempfile.TemporaryDirectory(prefix="mmm-engines-") as tmp:
        for key in plan:
            if key in done:
                continue
            kind, seed, label = key
            backend, overrides = _overrides(label)
            folder = Path(tmp) / "".join(c for c in label if c.isalnum())
            quick_draws = [*QUICK, "training.sampler.n_chains=2"] if quick else []  # ESS needs two chains
            roi = fit_one(kind, seed, "pipeline", preset, backend, folder, [*overrides, *quick_draws])
            roi = roi.assign(engine=label, preset=preset)
            done[key] = roi
            if checkpoint is not None:
                with checkpoint.open("a", encoding="utf-8") as handle:
                    handle.write(roi.to_json(orient="records") + "\n")
    return pd.concat([done[key] for key in plan], ignore_index=True)


def summarise(channels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per fit and per (kind, engine): coverage, errors, sampling time, ROI ESS per second, peak memory."""
    channels = channels.assign(covered=channels["covered"].astype(bool))
    fits = channels.groupby(["kind", "seed", "engine"], sort=False).agg(
        coverage_90=("covered", "mean"), median_abs_rel_error=("abs_rel_error", "median"),
        max_abs_rel_error=("abs_rel_error", "max"), max_rhat=("max_rhat", "first"),
        divergences=("divergences", "first"), sampling_seconds=("sampling_seconds", "first"),
        roi_min_ess=("roi_min_ess", "first"), roi_ess_per_s=("roi_ess_per_s", "first"),
        peak_rss_mb=("peak_rss_mb", "first")).reset_index()
    pooled = channels.groupby(["kind", "engine"], sort=False).agg(
        covered=("covered", "sum"), channels=("covered", "size"), median_abs_rel_error=("abs_rel_error", "median"),
        max_abs_rel_error=("abs_rel_error", "max")).join(
        fits.groupby(["kind", "engine"], sort=False).agg(
            fits=("seed", "size"), median_sampling_seconds=("sampling_seconds", "median"),
            median_roi_ess_per_s=("roi_ess_per_s", "median"), max_peak_rss_mb=("peak_rss_mb", "max"),
            max_rhat=("max_rhat", "max"))).reset_index()
    return fits, pooled


def main() -> int:
    args = study_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]), "default").parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.quick:
        args.seeds, args.models, args.preset = args.seeds[:1], ["national"], "fast"
    channels = run(args.seeds, args.models, args.preset, args.quick, args.checkpoint)
    fits, pooled = summarise(channels)
    pd.set_option("display.width", 200)
    print(fits.round(3).to_string(index=False))
    print(pooled.round(3).to_string(index=False))
    # Speed ratio per dataset kind: the PyMC engine's ROI ESS per second over Meridian's (median over seeds).
    speed = pooled.set_index(["kind", "engine"])["median_roi_ess_per_s"]
    ratios = {kind: round(float(speed[(kind, "pymc (numpyro)")] / speed[(kind, "meridian (jax)")]), 2)
              for kind in args.models}
    print("ROI ESS per second, PyMC engine (numpyro) / Meridian engine (JAX):", ratios)
    from benchmarks.common import save

    save("engines", {"preset": args.preset, "seeds": args.seeds, "models": args.models, "quick": args.quick,
                     "pymc_over_meridian_roi_ess_per_s": ratios, "by_kind": pooled.to_dict(orient="records"),
                     "fits": fits.to_dict(orient="records")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

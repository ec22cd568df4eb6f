"""Both engines on the same data and the same kept draws, in one run: recovery and speed side by side.

Every (dataset, engine) pair is one fit in its own process, run one at a time (timed alone): the simulator's
national series and its 4-geo set at each seed, fitted by the Meridian engine (JAX) and the PyMC engine (numpyro),
both with the pipeline's defaults and the same sampler preset; the PyMC engine's other installed samplers run on
the first national dataset. Beside them, on every dataset, two bare fits, each in a fresh process on the very
``model_inputs.parquet`` / ``feature_spec.json`` the pipeline's fit used, with the same sampler counts and seed:

- ``bare meridian``: ``benchmarks/bare_meridian.py`` (Meridian's API only) with the pipeline's priors and model spec
  (``default_priors=False``): the same model and posterior as the Meridian engine's, so the difference is the
  pipeline's overhead;
- ``bare pymc-marketing``: ``benchmarks/bare_pymc.py``, PyMC-Marketing's own defaults (its MMM on spend, geometric
  adstock, logistic saturation, default priors) with numpyro: what a user gets without the pipeline.

Bare fits run on the CPU (``JAX_PLATFORMS=cpu``, as the pipeline's fits) without the pipeline's JAX compilation
cache. Per fit: the share of true ROIs inside the 90 % interval, the posterior-mean ROI's absolute relative error,
sampling seconds, the ROI's smallest bulk ESS per second of sampling (the engines' ROI parameter; for bare
PyMC-Marketing, which has none, the per-draw ROIs), the sampling seconds that ESS 400 on the worst ROI would take at
that rate (``seconds_to_ess_400``, a linear extrapolation), and the fitting process's peak memory. Usage::

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
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from benchmarks.recovery import QUICK, fit_one, prepare_fit, study_arguments  # noqa: E402
from mmm_meridian.config import MMMConfig  # noqa: E402
from mmm_meridian.models.jobs import sampler_values  # noqa: E402

# (engine label, backend flag of recovery.fit_one, overrides): the default samplers of both engines.
ENGINES = {"meridian (jax)": ("jax", []), "pymc (numpyro)": ("pymc", [])}
# The PyMC engine's other samplers, where installed (training.sampler.nuts_sampler).
OTHER_SAMPLERS = {"pymc (pymc)": ("pymc", "pymc"), "pymc (nutpie)": ("nutpie", "nutpie"),
                  "pymc (blackjax)": ("blackjax", "blackjax")}
# Bare fits (what a user writes without the pipeline) -> the pipeline engine whose fit's files they read.
BARE = {"bare meridian": "meridian (jax)", "bare pymc-marketing": "pymc (numpyro)"}
ESS_TARGET = 400  # seconds_to_ess_400: sampling seconds to reach this ESS on the worst ROI
# The bare fits' environment: on the CPU like the pipeline's fits, library warnings silenced.
BARE_ENV = {"JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONWARNINGS": "ignore::UserWarning,ignore::DeprecationWarning,ignore::FutureWarning"}


def plan_fits(seeds: list[int], kinds: list[str]) -> list[tuple[str, int, str]]:
    """(kind, seed, engine label) for every fit: both engines and both bare fits (after the pipeline fits whose files
    they read) on every dataset, other samplers on the first."""
    fits = [(kind, seed, label) for kind in kinds for seed in seeds for label in [*ENGINES, *BARE]]
    extra = [label for label, (module, _) in OTHER_SAMPLERS.items() if find_spec(module) is not None]
    return fits + [(kinds[0], seeds[0], label) for label in extra]


def _overrides(label: str) -> tuple[str, list[str]]:
    if label in ENGINES:
        return ENGINES[label]
    return "pymc", [f"training.sampler.nuts_sampler={OTHER_SAMPLERS[label][1]}"]


def _work(label: str, tmp: Path) -> Path:
    return tmp / "".join(c for c in label if c.isalnum())


def _pipeline_files(kind: str, seed: int, source: str, preset: str, tmp: Path,
                    quick_draws: list[str]) -> tuple[Path, MMMConfig]:
    """The folder holding the ``model_inputs.parquet`` and ``feature_spec.json`` of the pipeline fit ``source`` of
    (kind, seed), and that fit's config (its sampler): :func:`benchmarks.recovery.prepare_fit`, as ``fit_one`` ran
    it (it rewrites the same files, which also covers a pipeline fit taken from the checkpoint)."""
    backend, overrides = _overrides(source)
    folder, cfg, _ = prepare_fit(kind, seed, "pipeline", preset, backend, _work(source, tmp), [*overrides, *quick_draws])
    return folder, cfg


def _bare_code(label: str, folder: Path, cfg: Any) -> str:
    """A snippet for :func:`common.run_python`: one bare fit leaving its figures in ``result``."""
    sampler = sampler_values(cfg)
    counts = {k: int(sampler[k]) for k in ("n_chains", "n_adapt", "n_burnin", "n_keep", "seed", "max_tree_depth")}
    files = f"{str(folder / 'model_inputs.parquet')!r}, {str(folder / 'feature_spec.json')!r}"
    head = f"import sys\nsys.path.insert(0, {str(common.BENCH_DIR)!r})\n"
    if label == "bare pymc-marketing":
        return head + f"from bare_pymc import fit\nresult = fit({files}, outputs=True, **{counts!r})\n"
    precision = str(getattr(cfg.runtime.precision, "value", cfg.runtime.precision))
    # bare_meridian.fit returns ROI means only: keep its model (from the ROI step it runs anyway) and take the ROI
    # per draw as the Meridian engine's roi.csv does (Analyzer.roi) and the ESS of roi_m as recovery.fit_one does,
    # after fit() has returned (outside its timings).
    return head + f"""import warnings
import numpy as np
import bare_meridian
_kept = {{}}
_roi_means = bare_meridian._roi_means
def _keep_model(mmm):
    _kept["mmm"] = mmm
    return _roi_means(mmm)
bare_meridian._roi_means = _keep_model
result = bare_meridian.fit({files}, backend="jax", precision={precision!r}, outputs=True, default_priors=False,
                           n_prior_draws={int(sampler["n_prior_draws"])}, **{counts!r})
import arviz as az
from meridian.analysis import analyzer
_mmm = _kept["mmm"]
_names = [str(c) for c in _mmm.input_data.media_channel.values]
_roi = np.asarray(analyzer.Analyzer(_mmm).roi(), dtype=np.float64).reshape(-1, len(_names))
for _key, _values in (("roi_mean", _roi.mean(axis=0)), ("roi_lo_90", np.quantile(_roi, 0.05, axis=0)),
                      ("roi_hi_90", np.quantile(_roi, 0.95, axis=0))):
    result[_key] = dict(zip(_names, _values.tolist()))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    _ess = np.asarray(az.ess(_mmm.inference_data.posterior[["roi_m"]], method="bulk")["roi_m"], dtype=np.float64)
_ess = _ess[np.isfinite(_ess)]
result["roi_min_ess"] = float(_ess.min()) if _ess.size else float("nan")
_stats = getattr(_mmm.inference_data, "sample_stats", None)
_diverging = _stats["diverging"] if _stats is not None and "diverging" in _stats else None
result["divergences"] = None if _diverging is None else int(np.asarray(_diverging).sum())
"""


def fit_bare(kind: str, seed: int, label: str, preset: str, tmp: Path, quick_draws: list[str],
             pipeline: pd.DataFrame) -> pd.DataFrame:
    """One bare fit in a fresh process on the files of its pipeline fit (``pipeline``: that fit's rows, whose true
    ROIs it is scored against); rows with the columns of ``recovery.fit_one``'s."""
    folder, cfg = _pipeline_files(kind, seed, BARE[label], preset, tmp, quick_draws)
    logging.getLogger(__name__).info("%s seed %d %s: fitting %s", kind, seed, label, folder)
    measured = common.run_python(label, _bare_code(label, folder, cfg), env=BARE_ENV, timeout=7200)
    out = measured.output
    truth = pipeline.drop_duplicates("channel").set_index("channel")["true_roi"]
    roi = pd.DataFrame({"channel": list(out["roi_mean"]),
                        **{k: [out[k][c] for c in out["roi_mean"]] for k in ("roi_mean", "roi_lo_90", "roi_hi_90")}})
    roi["true_roi"] = roi["channel"].map(truth)
    roi["covered"] = (roi["roi_lo_90"] <= roi["true_roi"]) & (roi["true_roi"] <= roi["roi_hi_90"])
    roi["abs_rel_error"] = (roi["roi_mean"] - roi["true_roi"]).abs() / roi["true_roi"]
    ess, seconds = float(out["roi_min_ess"]), float(out["sampling_seconds"])
    return roi.assign(kind=kind, seed=seed, variant="bare script", engine=label, max_rhat=out["max_rhat"],
                      divergences=out.get("divergences"), seconds=round(measured.seconds, 1),
                      sampling_seconds=seconds, roi_min_ess=round(ess, 1), roi_ess_per_s=round(ess / seconds, 2),
                      peak_rss_mb=round(measured.peak_rss_mb, 1), preset=preset)


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
            quick_draws = [*QUICK, "training.sampler.n_chains=2"] if quick else []  # ESS needs two chains
            if label in BARE:  # its pipeline fit comes first in the plan: done (fitted or from the checkpoint)
                roi = fit_bare(kind, seed, label, preset, Path(tmp), quick_draws, done[(kind, seed, BARE[label])])
            else:
                backend, overrides = _overrides(label)
                roi = fit_one(kind, seed, "pipeline", preset, backend, _work(label, Path(tmp)),
                              [*overrides, *quick_draws])
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
    fits["seconds_to_ess_400"] = _seconds_to_target(fits["roi_ess_per_s"])
    pooled = channels.groupby(["kind", "engine"], sort=False).agg(
        covered=("covered", "sum"), channels=("covered", "size"), median_abs_rel_error=("abs_rel_error", "median"),
        max_abs_rel_error=("abs_rel_error", "max")).join(
        fits.groupby(["kind", "engine"], sort=False).agg(
            fits=("seed", "size"), median_sampling_seconds=("sampling_seconds", "median"),
            median_roi_ess_per_s=("roi_ess_per_s", "median"), max_peak_rss_mb=("peak_rss_mb", "max"),
            max_rhat=("max_rhat", "max"))).reset_index()
    pooled["seconds_to_ess_400"] = _seconds_to_target(pooled["median_roi_ess_per_s"])
    return fits, pooled


def _seconds_to_target(ess_per_s: pd.Series) -> pd.Series:
    """Sampling seconds to ESS_TARGET on the worst ROI at a fit's rate (NaN where the rate is unknown or 0)."""
    rate = pd.to_numeric(ess_per_s, errors="coerce")
    return ESS_TARGET / rate.where(rate > 0)


def fastest(pooled: pd.DataFrame) -> dict[str, dict[str, float | str]]:
    """Per dataset kind: the engine / sampler that reaches ESS_TARGET on its worst ROI in the fewest sampling seconds
    (median ESS per second over seeds)."""
    known = pooled.dropna(subset=["seconds_to_ess_400"])
    rows = known.loc[known.groupby("kind", sort=False)["seconds_to_ess_400"].idxmin()]
    return {str(r.kind): {"engine": str(r.engine), "seconds_to_ess_400": round(float(r.seconds_to_ess_400), 1)}
            for r in rows.itertuples()}


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
    first = fastest(pooled)
    for kind, best in first.items():
        print(f"Fastest to ESS {ESS_TARGET} on the worst ROI, {kind}: {best['engine']} "
              f"({best['seconds_to_ess_400']} s of sampling, extrapolated from the median ESS per second)")
    common.save("engines", {"preset": args.preset, "seeds": args.seeds, "models": args.models,
                            "quick": args.quick, "pymc_over_meridian_roi_ess_per_s": ratios,
                            "fastest_to_ess_400": first, "by_kind": pooled.to_dict(orient="records"),
                            "fits": fits.to_dict(orient="records")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

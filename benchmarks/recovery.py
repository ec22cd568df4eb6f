"""Parameter recovery on simulated data with known truth: the pipeline's defaults vs bare Meridian.

For each seed and model kind the simulator draws a dataset, the features stage builds the pipeline's inputs, and the
fits run, each in its own process. Kinds (:data:`KINDS`): ``national`` (one series) and ``geo`` (one brand in four
countries), 156 weeks of six independently drawn channels; and the confounded panels ``national_seasonal``,
``geo4_seasonal``, ``geo10_seasonal``, ``geo40_seasonal``: 1, 4, 10 or 40 regions of one country, 104 weeks, five
channels whose spend peaks with the season and two of them flighted together, ROIs that differ between regions,
6 % noise. Variants:

- ``pipeline``: the pipeline's defaults (seasonality and holiday controls, knots, adstock / saturation priors);
- ``bare``: Meridian's defaults on the same data (its default priors and knots, only the data's own controls);
- a name of :data:`TRIED`: the pipeline's defaults with the overrides tried for a geo default (kept to show what
  was measured and not adopted).

Reported per fit: the share of channels whose 90 % ROI interval covers the true ROI, and the median absolute relative
error of the posterior-mean ROI. Usage::

    PYTHONPATH=. python benchmarks/recovery.py --preset production --seeds 1 2 3 --models national geo
    PYTHONPATH=. python benchmarks/recovery.py --preset default --models geo10_seasonal geo40_seasonal
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mmm_meridian import models  # noqa: E402
from mmm_meridian.artifacts import dumps  # noqa: E402
from mmm_meridian.config import MMMConfig, load_config  # noqa: E402
from mmm_meridian.features.stage import build_features  # noqa: E402
from mmm_meridian.models.jobs import FitJob, run_in_subprocess, sampler_values  # noqa: E402
from mmm_meridian.simulate import ExperimentSpec, SimulatedDataset, SimulationSpec, simulate  # noqa: E402
from mmm_meridian.simulate.spec import DEFAULT_CHANNELS  # noqa: E402
from mmm_meridian.tables.experiments import read_experiments  # noqa: E402
from tests.features.helpers import clean_table  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Kind:
    """One simulated business of the study: its geos and whether its media are confounded with the season."""

    n_geos: int
    seasonal: bool = False

    def simulation(self, seed: int, experiments: tuple[ExperimentSpec, ...] = ()) -> SimulationSpec:
        """The simulator's spec for this kind and seed."""
        if not self.seasonal:  # the original study: national GB, or brand_a in four countries of different size
            series = (("brand_a", "GB"),) if self.n_geos == 1 else (
                ("brand_a", "GB"), ("brand_a", "US"), ("brand_a", "DE"), ("brand_a", "FR"))
            scales = (1.0,) if self.n_geos == 1 else (1.0, 1.4, 0.8, 0.6)
            return SimulationSpec(series=series, series_scale=scales, seed=seed, experiments=experiments)
        # Regions of one country, sized from 0.3x to 3x, 104 weeks, five channels whose spend follows the season,
        # display and video booked on one calendar, and each channel's ROI differing between regions (sigma 0.3:
        # pooling must not flatten real differences).
        regions = tuple(("brand_a", f"R{i:02d}") for i in range(1, self.n_geos + 1)) if self.n_geos > 1 else (
            ("brand_a", "GB"),)
        scales = tuple(round(float(x), 3) for x in np.geomspace(0.3, 3.0, self.n_geos)) if self.n_geos > 1 else (1.0,)
        return SimulationSpec(series=regions, series_scale=scales, seed=seed, experiments=experiments,
                              n_weeks=104, channels=DEFAULT_CHANNELS[:5], spend_seasonality=0.5,
                              flighting_groups=(("google_display", "google_video"),), noise_cv=0.06,
                              geo_roi_spread=0.3 if self.n_geos > 1 else 0.0,
                              currencies=tuple((territory, "GBP") for _, territory in regions))

    def overrides(self) -> list[str]:
        """The data config: the demo's, without tiktok for the five-channel panels, and one holiday calendar for
        regions of one country."""
        data = ["data=demo" if self.n_geos == 1 else "data=demo_geo"]
        if not self.seasonal:
            return data
        dropped = [f"~{mapping}.tiktok" for mapping in (
            "data.channel_map", "data.impressions_map", "data.clicks_map", "data.platform_reported_map",
            "features.adstock.platform_overrides", "model.priors.roi_bounds")]
        return data + dropped + (["features.seasonality.holidays.country=GB"] if self.n_geos > 1 else [])


KINDS = {"national": Kind(1), "geo": Kind(4), "national_seasonal": Kind(1, True), "geo4_seasonal": Kind(4, True),
         "geo10_seasonal": Kind(10, True), "geo40_seasonal": Kind(40, True)}
QUICK = ["training.sampler.n_chains=1", "training.sampler.n_adapt=20", "training.sampler.n_burnin=20",
         "training.sampler.n_keep=20", "training.sampler.n_prior_draws=20"]
BARE = ["features.seasonality.annual=false", "features.seasonality.holidays.enabled=false",
        "features.seasonality.knot_every_weeks=null", "features.baseline.trend=false"]
# Overrides tried on the pipeline's defaults for many geos (variant names of the study).
TRIED = {
    "meridian_spread": ["model.priors.geo_variation.media=null", "model.priors.geo_variation.controls=null"],
    "pooled": ["model.priors.geo_variation.media=0.2", "model.priors.geo_variation.controls=0.2"],
    "weekly_knots": ["features.seasonality.knot_every_weeks=1", "features.seasonality.annual=false",
                     "features.seasonality.holidays.enabled=false", "features.baseline.promotions=false"],
}
# Meridian's default geo model has a knot per week, which makes a control that is the same in every geo (the
# simulator's promo calendar) collinear with time: Meridian refuses to fit and advises dropping it, which is what a
# user of bare Meridian has to do.
BARE_GEO = ["features.baseline.promotions=false"]

# Each engine's ROI parameter: its ESS per second of sampling is the speed that matters for the answer.
ROI_PARAMETER = {"meridian": "roi_m", "pymc": "roi"}
# Per fit: sampling time, the ROI parameter's smallest ESS and ESS per second of sampling, peak memory.
_SPEED = ("sampling_seconds", "roi_min_ess", "roi_ess_per_s", "peak_rss_mb")
_PREPARE = threading.Lock()
# Per (kind, variant): interval coverage, point error (median, mean and worst absolute relative error of the
# posterior-mean ROI) and the interval's width relative to the true ROI (narrower is better at equal coverage).
_MEASURES = {"coverage_90": ("covered", "mean"), "median_abs_rel_error": ("abs_rel_error", "median"),
             "mean_abs_rel_error": ("abs_rel_error", "mean"), "max_abs_rel_error": ("abs_rel_error", "max"),
             "mean_rel_width_90": ("rel_width_90", "mean"), "channels": ("covered", "size")}


def prepare_fit(kind: str, seed: int, variant: str, preset: str, backend: str, work: Path, extra: list[str],
                experiments: tuple[ExperimentSpec, ...] = (), calibrate: bool = False) -> tuple[Path, MMMConfig, SimulatedDataset]:
    """The simulated dataset of (kind, seed), the fit's config, and its folder ``work/<kind>-<seed>-<variant>`` with
    the features stage's ``model_inputs.parquet`` and ``feature_spec.json`` written (deterministic: the same files
    every time). ``experiments``: lift tests the simulator runs on its truth (the same dataset whether or not they
    are used); ``calibrate``: the features use them."""
    with _PREPARE:  # Hydra's compose API keeps global state: one config at a time when fits run concurrently
        shape = KINDS[kind]
        dataset = simulate(shape.simulation(seed, experiments))
        engine_keys = ["model.backend=pymc"] if backend == "pymc" else [f"runtime.backend={backend}"]
        variant_keys = {"pipeline": [], "bare": BARE + (BARE_GEO if shape.n_geos > 1 else []), **TRIED}[variant]
        cfg = load_config([f"paths.root={work}", *shape.overrides(), f"training={preset}", *engine_keys,
                           "tracking.enabled=false", *extra, *variant_keys])
        folder = work / f"{kind}-{seed}-{variant}"
        folder.mkdir(parents=True, exist_ok=True)
        tests = None
        if calibrate:
            dataset.experiments_frame().to_csv(folder / "experiments.csv", index=False)
            tests = read_experiments(str(folder / "experiments.csv"))[0]
        inputs, spec = build_features(clean_table(dataset), cfg, experiments=tests)
    inputs.to_parquet(folder / "model_inputs.parquet", index=False)
    (folder / "feature_spec.json").write_text(dumps(spec.to_dict()), encoding="utf-8")
    return folder, cfg, dataset


def fit_one(kind: str, seed: int, variant: str, preset: str, backend: str, work: Path,
            extra: list[str], experiments: tuple[ExperimentSpec, ...] = (),
            calibrate: bool = False) -> pd.DataFrame:
    """One fit in its own process (data and features from :func:`prepare_fit`); the per-channel ROI table against
    the truth."""
    folder, cfg, dataset = prepare_fit(kind, seed, variant, preset, backend, work, extra, experiments, calibrate)
    engine = models.for_config(cfg)
    plan = engine.plan(cfg.runtime)
    thresholds = {**dataclasses.asdict(cfg.complexity.identifiability), "on_failure": "warn"}
    job = FitJob(str(folder / "model_inputs.parquet"), str(folder / "feature_spec.json"),
                 sampler_values(cfg), thresholds, plan.to_dict(), engine=engine.name, save_model=False,
                 default_priors=variant == "bare", label=f"{kind} seed {seed} {variant}")
    started = time.perf_counter()
    diagnostics = run_in_subprocess(job, folder, engine.child_env(plan), 7200, f"{kind} seed {seed} {variant}")
    roi = pd.read_csv(folder / "roi.csv")
    truth = dataset.truth["totals"]
    roi["true_roi"] = roi["channel"].map(lambda c: truth[c]["roi"])
    roi["covered"] = (roi["roi_lo_90"] <= roi["true_roi"]) & (roi["true_roi"] <= roi["roi_hi_90"])
    roi["abs_rel_error"] = (roi["roi_mean"] - roi["true_roi"]).abs() / roi["true_roi"]
    # ESS needs two chains or more (a one-chain quick check has none)
    roi_ess = min((p["min_ess"] for p in diagnostics["parameters"] if p["name"] in ROI_PARAMETER.values()),
                  default=float("nan"))
    roi = roi.assign(kind=kind, seed=seed, variant=variant, engine=engine.name, max_rhat=diagnostics["max_rhat"],
                     converged=bool(diagnostics["converged"]), gated_min_ess=diagnostics["min_ess"],
                     divergences=diagnostics.get("divergences"),
                     seconds=round(time.perf_counter() - started, 1),
                     sampling_seconds=diagnostics["sampling_seconds"], roi_min_ess=round(roi_ess, 1),
                     roi_ess_per_s=round(roi_ess / diagnostics["sampling_seconds"], 2),
                     peak_rss_mb=diagnostics["peak_rss_mb"])
    return roi


def run_recovery(seeds: list[int], kinds: list[str], preset: str, backend: str = "jax",
                 variants: tuple[str, ...] = ("pipeline", "bare"), extra: list[str] | None = None,
                 jobs: int = 1, checkpoint: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every (kind, seed, variant); returns the per-channel table and the per-fit summary.

    ``jobs`` fits run at a time (each in its own process). With ``checkpoint`` (a JSON-lines file) every finished
    fit is appended as it completes and fits already there are not run again, so a study cut off after hours keeps
    what it measured and resumes where it stopped. Fits run variant by variant so a partial study has the
    pipeline's figures first.
    """
    plan = [(kind, seed, variant) for variant in variants for kind in kinds for seed in seeds]
    engine_name = "pymc" if backend == "pymc" else "meridian"
    done: dict[tuple[str, int, str], pd.DataFrame] = {}
    if checkpoint is not None and checkpoint.exists():
        for line in checkpoint.read_text(encoding="utf-8").splitlines():
            frame = pd.DataFrame(json.loads(line))
            key = (str(frame["kind"].iloc[0]), int(frame["seed"].iloc[0]), str(frame["variant"].iloc[0]))
            fitted_by = str(frame["engine"].iloc[0]) if "engine" in frame else "meridian"  # older rows: Meridian
            if key in plan and str(frame["preset"].iloc[0]) == preset and fitted_by == engine_name:
                done[key] = frame.drop(columns=["preset"])
    todo = [key for key in plan if key not in done]
    lock = threading.Lock()

    def fit_and_record(key: tuple[str, int, str], work: Path) -> None:
        roi = fit_one(*key, preset, backend, work, extra or [])
        with lock:
            done[key] = roi
            if checkpoint is not None:
                with checkpoint.open("a", encoding="utf-8") as handle:
                    handle.write(roi.assign(preset=preset).to_json(orient="records") + "\n")

    with tempfile.TemporaryDirectory(prefix="mmm-recovery-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(fit_and_record, key, Path(tmp)) for key in todo]:
            future.result()
    channels = pd.concat([done[key] for key in plan], ignore_index=True)
    channels["covered"] = channels["covered"].astype(bool)
    for column in ("divergences", "converged", *_SPEED):  # fits checkpointed before these were recorded
        if column not in channels:
            channels[column] = None
    summary = channels.groupby(["kind", "seed", "variant"], dropna=False).agg(
        coverage_90=("covered", "mean"), median_abs_rel_error=("abs_rel_error", "median"),
        max_rhat=("max_rhat", "first"), divergences=("divergences", "first"), seconds=("seconds", "first"),
        converged=("converged", "first"),
        **{column: (column, "first") for column in _SPEED},
    ).reset_index()
    return channels, summary


def study_arguments(parser: argparse.ArgumentParser, preset: str) -> argparse.ArgumentParser:
    """The options a study over simulated datasets shares (this script and ``engines.py``)."""
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--models", nargs="+", default=["national", "geo"], choices=list(KINDS))
    parser.add_argument("--preset", default=preset, choices=["fast", "default", "production"])
    parser.add_argument("--quick", action="store_true", help="one national seed, tiny draws: checks the script only")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="JSON-lines file: finished fits are appended and not run again (resume a long study)")
    return parser


def main() -> int:
    parser = study_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]), "production")
    parser.add_argument("--backend", default="jax", choices=["jax", "tensorflow", "pymc"],
                        help="Meridian on JAX or TensorFlow, or the PyMC engine (model.backend=pymc)")
    parser.add_argument("--variants", nargs="+", default=["pipeline", "bare"], choices=["pipeline", "bare", *TRIED])
    parser.add_argument("--jobs", type=int, default=1, help="fits at a time (each in its own process)")
    parser.add_argument("--output", default=None,
                        help="name of the figures file in benchmarks/results (default: recovery, or recovery_pymc "
                             "with --backend pymc)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.quick:
        args.seeds, args.models, args.preset = args.seeds[:1], ["national"], "fast"
    channels, summary = run_recovery(args.seeds, args.models, args.preset, args.backend, tuple(args.variants),
                                     extra=QUICK if args.quick else None,
                                     jobs=args.jobs, checkpoint=args.checkpoint)
    pd.set_option("display.width", 160)
    print(channels[["kind", "seed", "variant", "channel", "true_roi", "roi_mean", "roi_lo_90", "roi_hi_90",
                    "covered"]].round(3).to_string(index=False))
    print(summary.round(3).to_string(index=False))
    channels["rel_width_90"] = (channels["roi_hi_90"] - channels["roi_lo_90"]) / channels["true_roi"]
    pooled = channels.groupby(["kind", "variant"]).agg(**_MEASURES)
    print(pooled.round(3).to_string())
    figures: dict[str, object] = {"preset": args.preset, "seeds": len(args.seeds), "models": ",".join(args.models),
                                  "quick": args.quick}
    for variant, row in channels.groupby("variant").agg(**_MEASURES).iterrows():
        figures[str(variant)] = {name: round(float(value), 3) for name, value in row.items()}
    print(figures)
    from benchmarks.common import save

    name = args.output or ("recovery_pymc" if args.backend == "pymc" else "recovery")
    save(name, {**figures, "by_kind": pooled.reset_index().to_dict(orient="records"),
                      "fits": summary.to_dict(orient="records"),
                      "channels": channels.drop(columns=["covered"]).assign(covered=channels["covered"].astype(int))
                      .to_dict(orient="records")})
    return 0


if __name__ == "__main__":
    sys.exit(main())

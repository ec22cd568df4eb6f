"""One Meridian fit as a self-contained job: read the features, fit, check convergence, write the results.

The same :func:`run_job` runs in the train stage's process or in a subprocess (:mod:`mmm_meridian.train.worker`):
Meridian fixes its backend on first import and its memory grows across fits in one process, so rolling splits and
fits on a backend other than the one already loaded run in fresh processes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.artifacts import dumps
from mmm_meridian.config.modeling import ConvergenceConfig
from mmm_meridian.feature_spec import FeatureSpec

log = logging.getLogger(__name__)

# Rough cost of NUTS on this model family on a 2-core CPU (JAX float32), only used for the "time left" estimate in
# progress messages. Cost is far from proportional to chains x iterations: chains run vectorised, and a long
# adaptation finds larger steps (shorter trajectories) than a short one. A power law fitted to measured fits
# (6 channels, 156 weeks): fast preset 2 x 500 iterations 36 s; 10 x 300 37 s; production 10 x 3500 about 110 s;
# production with 4 geos about 500 s (benchmarks/RESULTS.md, parameter recovery).
_COST = {"scale": 8.3e-3, "iterations": 0.44, "chains": 0.15, "geo_weeks": 1.1}
_COMPILE_SECONDS = 10.0


@dataclass
class FitJob:
    """Everything one fit needs, JSON-serialisable so a subprocess can run it."""

    inputs_path: str
    spec_path: str
    sampler: dict[str, int]
    thresholds: dict[str, Any]
    runtime: dict[str, Any]
    holdout_weeks: int = 0
    window: tuple[str, str] | None = None  # first and last week (inclusive) of the data to use
    chain_batch_size: int | None = None
    reconstruction_batch_size: int | None = None
    progress_every_s: float = 30.0
    save_model: bool = True
    predictions: bool = False
    default_priors: bool = False
    revenue_figures: bool = True  # total revenue and P(negative baseline), for the plausibility gate
    label: str = "train"

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> FitJob:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("window") is not None:
            data["window"] = tuple(data["window"])
        return cls(**data)


@dataclass
class FitResult:
    diagnostics: dict[str, Any]
    roi: pd.DataFrame
    predictions: pd.DataFrame | None = None
    files: dict[str, str] = field(default_factory=dict)


def estimate_seconds(sampler: dict[str, int], n_geos: int, n_weeks: int) -> float:
    """A rough sampling-time estimate on a 2-core CPU (see ``_COST``)."""
    iterations = sampler["n_adapt"] + sampler["n_burnin"] + sampler["n_keep"]
    cost = (iterations ** _COST["iterations"] * sampler["n_chains"] ** _COST["chains"]
            * (n_geos * n_weeks) ** _COST["geo_weeks"])
    return _COMPILE_SECONDS + _COST["scale"] * cost


class _Heartbeat:
    """Logs elapsed time and an estimate of the time left while Meridian samples (it has no progress callback)."""

    def __init__(self, label: str, every_s: float, estimate_s: float) -> None:
        self.label, self.every_s, self.estimate_s = label, every_s, estimate_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            elapsed = time.perf_counter() - self._started
            left = self.estimate_s - elapsed
            hint = f"about {left:.0f} s left (rough estimate)" if left > 0 else "taking longer than estimated"
            log.info("%s: sampling, %.0f s elapsed, %s", self.label, elapsed, hint)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def load_inputs(job: FitJob) -> tuple[pd.DataFrame, FeatureSpec]:
    inputs = pd.read_parquet(job.inputs_path)
    spec = FeatureSpec.read(job.spec_path)
    if job.window is not None:
        times = pd.to_datetime(inputs[cols.TIME])
        inputs = inputs[(times >= pd.Timestamp(job.window[0])) & (times <= pd.Timestamp(job.window[1]))]
        inputs = inputs.reset_index(drop=True)
        # A control can be constant inside a shorter window (e.g. a holiday outside it): Meridian's checks refuse it.
        constant = [c.name for c in spec.controls if inputs[c.name].nunique() <= 1]
        if constant:
            log.info("%s: control(s) %s constant in this window; left out", job.label, constant)
            spec.controls = [c for c in spec.controls if c.name not in constant]
        if spec.knots is not None:
            spec.knots = min(spec.knots, int(inputs[cols.TIME].nunique()))
    return inputs, spec


def run_job(job: FitJob, out_dir: Path) -> FitResult:
    """Fit one model and write ``model.binpb`` (if asked), ``diagnostics.json``, ``roi.csv`` and ``predictions.csv``.

    The runtime environment must already be applied (:func:`mmm_meridian.train.runtime.apply`). The convergence gate
    is not applied here: the caller decides (the main fit fails or warns, rolling splits record the flag).
    """
    from mmm_meridian.train import diagnostics as diag
    from mmm_meridian.train import meridian_adapter as adapter
    from mmm_meridian.train import runtime

    inputs, spec = load_inputs(job)
    n_weeks = inputs[cols.TIME].nunique()
    sampler = job.sampler
    log.info("%s: sampling %d chain(s) x (%d adapt + %d burn-in + %d kept) on %s/%s/%s, %d geo(s) x %d weeks, "
             "%d channels, %d controls, seed %d", job.label, sampler["n_chains"], sampler["n_adapt"],
             sampler["n_burnin"], sampler["n_keep"], adapter.backend_name(), runtime.loaded_precision(),
             runtime.loaded_device(), len(spec.geos), n_weeks, len(spec.channels), len(spec.controls),
             sampler["seed"])
    started = time.perf_counter()
    mmm = adapter.build_model(inputs, spec, holdout_weeks=job.holdout_weeks, default_priors=job.default_priors)
    estimate = estimate_seconds(sampler, len(spec.geos), n_weeks)
    with _Heartbeat(job.label, job.progress_every_s, estimate):
        timings = adapter.sample(mmm, chain_batch_size=job.chain_batch_size,
                                 reconstruction_batch_size=job.reconstruction_batch_size, **sampler)
    log.info("%s: sampling done in %.1f s (prior draws %.1f s)", job.label, timings["sampling_seconds"],
             timings["prior_seconds"])
    thresholds = ConvergenceConfig.from_dict(job.thresholds)
    diagnostics = diag.compute(adapter.inference_data(mmm), thresholds)
    diagnostics.extra.update({**{k: round(v, 3) for k, v in timings.items()}, "backend": adapter.backend_name(),
                              "precision": runtime.loaded_precision(), "device": runtime.loaded_device(),
                              "sampler": dict(sampler), "n_geos": len(spec.geos), "n_weeks": int(n_weeks),
                              "holdout_weeks": job.holdout_weeks,
                              "window": list(job.window) if job.window else None})
    roi = adapter.roi_table(mmm)
    if job.revenue_figures:
        started_figures = time.perf_counter()
        diagnostics.extra["revenue_figures"] = adapter.revenue_figures(mmm)
        diagnostics.extra["revenue_figures_seconds"] = round(time.perf_counter() - started_figures, 3)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"diagnostics": "diagnostics.json", "roi": "roi.csv"}
    predictions = None
    if job.predictions:
        predictions = adapter.expected_vs_actual(mmm)
        weeks = sorted(predictions[cols.TIME].unique())
        held = set(weeks[len(weeks) - job.holdout_weeks:]) if job.holdout_weeks else set()
        predictions["holdout"] = predictions[cols.TIME].isin(held)
        predictions.to_csv(out_dir / "predictions.csv", index=False)
        files["predictions"] = "predictions.csv"
    if job.save_model:
        adapter.save_model(mmm, out_dir / "model.binpb")
        files["model"] = "model.binpb"
    diagnostics.extra["total_seconds"] = round(time.perf_counter() - started, 3)
    (out_dir / "diagnostics.json").write_text(dumps(diagnostics.to_dict()) + "\n", encoding="utf-8")
    roi.to_csv(out_dir / "roi.csv", index=False)
    return FitResult(diagnostics=diagnostics.to_dict(), roi=roi, predictions=predictions, files=files)

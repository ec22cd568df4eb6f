"""One fit as a self-contained job on any engine: read the features, fit, check convergence, write the results.

The same :func:`run_job` runs in the stage's process or in a subprocess (:func:`run_in_subprocess`, entry point
:mod:`mmm_meridian.models.worker`): Meridian fixes its backend on first import and its memory grows across fits in
one process, so rolling splits, evaluate's holdout refits and fits on a backend other than the one already loaded
run in fresh processes. A job names its engine (``model.backend``) and writes, as asked: ``model.<ext>``,
``diagnostics.json``, ``roi.csv``, ``predictions.csv`` (expected revenue, 90 % interval) and ``predictions.parquet``
(the posterior PREDICTIVE table evaluate scores). A job with ``saved_model`` samples nothing: it scores a fit another
job saved with the same holdout (:func:`score_saved`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.artifacts import dumps
from mmm_meridian.config.modeling import ConvergenceConfig, RollingSplitsConfig
from mmm_meridian.errors import DataError, MissingArtifactError, UserError
from mmm_meridian.feature_spec import INPUTS_FILE, SPEC_FILE, FeatureSpec
from mmm_meridian.models.base import GeoHoldout, RuntimePlan, SamplerSettings

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
    sampler: dict[str, Any]
    thresholds: dict[str, Any]
    runtime: dict[str, Any]
    engine: str = "meridian"
    holdout_weeks: int = 0
    window: tuple[str, str] | None = None  # first and last week (inclusive) of the data to use
    chain_batch_size: int | None = None
    reconstruction_batch_size: int | None = None
    progress_every_s: float = 30.0
    save_model: bool = True
    predictions: bool = False
    default_priors: bool = False
    revenue_figures: bool = True  # total revenue and P(negative baseline), for the plausibility gate
    predictive_interval: float | None = None  # evaluate: write predictions.parquet with this predictive interval
    geo_holdout: dict[str, Any] | None = None  # evaluate: {"geos": [...], "start": ISO date}
    saved_model: str | None = None  # evaluate: score this saved fit (same holdout) instead of sampling a new one
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


def job_from_config(cfg: Any, features_dir: Path, plan: RuntimePlan, label: str = "train") -> FitJob:
    """The main fit's job from the run's config and the features stage's folder (train fits it, evaluate refits
    variants of it)."""
    spec = FeatureSpec.read(features_dir / SPEC_FILE)
    return FitJob(inputs_path=str(features_dir / INPUTS_FILE), spec_path=str(features_dir / SPEC_FILE),
                  sampler=sampler_values(cfg),
                  thresholds=cfg.complexity.identifiability.to_dict(), runtime=plan.to_dict(),
                  engine=str(getattr(cfg.model.backend, "value", cfg.model.backend)),
                  holdout_weeks=spec.holdout_weeks, chain_batch_size=cfg.runtime.chain_batch_size,
                  reconstruction_batch_size=cfg.runtime.reconstruction_batch_size,
                  progress_every_s=cfg.training.progress_every_s, label=label)


def sampler_values(cfg: Any) -> dict[str, Any]:
    """``training.sampler`` as a job holds it: plain JSON values (enum members as their values)."""
    return {k: getattr(v, "value", v) for k, v in dataclasses.asdict(cfg.training.sampler).items()}


def sampler_settings(job: FitJob) -> SamplerSettings:
    """The job's sampler; prior draws only for a model that is saved: they serve the saved model's prior-vs-posterior
    pages and nothing a refit or rolling split writes reads them (500 prior draws cost several seconds per fit)."""
    sampler = {**job.sampler, "n_prior_draws": job.sampler["n_prior_draws"] if job.save_model else 0}
    return SamplerSettings(**sampler, chain_batch_size=job.chain_batch_size,
                           reconstruction_batch_size=job.reconstruction_batch_size)


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


@dataclass(frozen=True)
class Split:
    index: int
    train_start: str
    train_end: str
    horizon_start: str
    horizon_end: str
    n_train_weeks: int
    n_horizon_weeks: int


def make_splits(weeks: list[pd.Timestamp], config: RollingSplitsConfig) -> list[Split]:
    """The walk-forward splits over ``weeks`` (sorted week starts).

    Raises:
        DataError: the data is shorter than one window plus its horizon.
    """
    n, window, horizon = len(weeks), config.window_weeks, config.horizon_weeks
    if window + horizon > n:
        raise DataError(f"rolling splits need window_weeks + horizon_weeks = {window + horizon} weeks, the data has {n}",
                        where="config key training.rolling_splits",
                        fix="lower training.rolling_splits.window_weeks / horizon_weeks or disable rolling splits")
    last_start = n - window - horizon
    starts = list(range(last_start, -1, -config.step_weeks))[: config.max_splits][::-1]
    fmt = lambda i: pd.Timestamp(weeks[i]).strftime("%Y-%m-%d")  # noqa: E731
    return [Split(i, fmt(s), fmt(s + window - 1), fmt(s + window), fmt(s + window + horizon - 1), window, horizon)
            for i, s in enumerate(starts)]


def run_job(job: FitJob, out_dir: Path) -> FitResult:
    """Fit one model and write what the job asks for (see the module docstring).

    The engine's runtime must already be applied (:meth:`mmm_meridian.models.base.Engine.apply`). The convergence
    gate is not applied here: the caller decides (the main fit fails or warns, splits and refits record the flag).
    """
    from mmm_meridian import models
    from mmm_meridian.models import diagnostics as diag

    if job.saved_model is not None:
        return score_saved(job, out_dir)
    engine = models.engine(job.engine)
    inputs, spec = load_inputs(job)
    n_weeks = inputs[cols.TIME].nunique()
    sampler = job.sampler
    loaded = engine.loaded_runtime()
    log.info("%s: %s engine: sampling %d chain(s) x (%d adapt + %d burn-in + %d kept) on %s/%s/%s, %d geo(s) x %d "
             "weeks, %d channels, %d controls, seed %d", job.label, engine.name, sampler["n_chains"],
             sampler["n_adapt"], sampler["n_burnin"], sampler["n_keep"], loaded["backend"], loaded["precision"],
             loaded["device"], len(spec.geos), n_weeks, len(spec.channels), len(spec.controls), sampler["seed"])
    started = time.perf_counter()
    geo = GeoHoldout(tuple(job.geo_holdout["geos"]), job.geo_holdout["start"]) if job.geo_holdout else None
    model = engine.build(inputs, spec, holdout_weeks=job.holdout_weeks, default_priors=job.default_priors,
                         geo_holdout=geo)
    estimate = estimate_seconds(sampler, len(spec.geos), n_weeks)
    with _Heartbeat(job.label, job.progress_every_s, estimate):
        timings = engine.sample(model, sampler_settings(job))
    log.info("%s: sampling done in %.1f s (prior draws %.1f s)", job.label, timings["sampling_seconds"],
             timings["prior_seconds"])
    thresholds = ConvergenceConfig.from_dict(job.thresholds)
    diagnostics = diag.compute(engine.inference_data(model), thresholds, engine.media_parameters)
    diagnostics.extra.update({**{k: round(v, 3) for k, v in timings.items()}, **loaded, "engine": engine.name,
                              "versions": engine.versions(), "sampler": dict(sampler), "n_geos": len(spec.geos),
                              "n_weeks": int(n_weeks), "holdout_weeks": job.holdout_weeks,
                              "window": list(job.window) if job.window else None})
    roi = engine.roi_table(model)
    if job.revenue_figures:
        started_figures = time.perf_counter()
        diagnostics.extra["revenue_figures"] = engine.revenue_figures(model)
        diagnostics.extra["revenue_figures_seconds"] = round(time.perf_counter() - started_figures, 3)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"diagnostics": "diagnostics.json", "roi": "roi.csv"}
    predictions = None
    if job.predictions:
        predictions = engine.expected_vs_actual(model)
        weeks = sorted(predictions[cols.TIME].unique())
        held = set(weeks[len(weeks) - job.holdout_weeks:]) if job.holdout_weeks else set()
        predictions["holdout"] = predictions[cols.TIME].isin(held)
        predictions.to_csv(out_dir / "predictions.csv", index=False)
        files["predictions"] = "predictions.csv"
    if job.predictive_interval is not None:
        engine.predictive_table(model, job.predictive_interval, seed=int(sampler["seed"])).to_parquet(
            out_dir / "predictions.parquet", index=False)
        files["predictive"] = "predictions.parquet"
    if job.save_model:
        engine.save(model, out_dir / engine.model_file)
        files["model"] = engine.model_file
    diagnostics.extra["total_seconds"] = round(time.perf_counter() - started, 3)
    # The fitting process's peak resident memory (Linux reports kB): what a machine needs to run this fit.
    diagnostics.extra["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    (out_dir / "diagnostics.json").write_text(dumps(diagnostics.to_dict()) + "\n", encoding="utf-8")
    roi.to_csv(out_dir / "roi.csv", index=False)
    log.info("%s: %s (max R-hat %.3f, min ESS %.0f)", job.label,
             "converged" if diagnostics.converged else "NOT converged: " + "; ".join(diagnostics.failures),
             diagnostics.max_rhat, diagnostics.min_ess)
    return FitResult(diagnostics=diagnostics.to_dict(), roi=roi, predictions=predictions, files=files)


def score_saved(job: FitJob, out_dir: Path) -> FitResult:
    """Write ``predictions.parquet`` (``job.predictive_interval``) from the fit saved at ``job.saved_model`` and copy
    its ``diagnostics.json`` and ``roi.csv`` beside it: what a refit with the same holdout writes, without sampling.

    Raises:
        MissingArtifactError: the saved fit or its ``diagnostics.json`` / ``roi.csv`` is missing or unreadable.
        ValueError: the job names no saved fit or interval, or the saved fit holds out other weeks than
            ``job.holdout_weeks`` (its forecast would not be one).
    """
    from mmm_meridian import models

    if job.saved_model is None or job.predictive_interval is None:
        raise ValueError("score_saved needs the job's saved_model and predictive_interval")
    engine = models.engine(job.engine)
    saved = Path(job.saved_model)
    try:
        diagnostics = json.loads((saved.parent / "diagnostics.json").read_text(encoding="utf-8"))
        roi = pd.read_csv(saved.parent / "roi.csv")
    except (OSError, ValueError) as exc:
        raise MissingArtifactError(f"the saved fit's diagnostics.json or roi.csv cannot be read: {exc}",
                                   where=str(saved.parent), fix="re-run the stage that wrote it") from exc
    if diagnostics.get("holdout_weeks") != job.holdout_weeks:
        raise ValueError(f"{saved} holds out {diagnostics.get('holdout_weeks')} week(s), the job scores "
                         f"{job.holdout_weeks}")
    log.info("%s: %s engine: scoring the saved fit %s (no sampling)", job.label, engine.name, saved)
    model = engine.load(saved)
    out_dir.mkdir(parents=True, exist_ok=True)
    engine.predictive_table(model, job.predictive_interval, seed=int(job.sampler["seed"])).to_parquet(
        out_dir / "predictions.parquet", index=False)
    (out_dir / "diagnostics.json").write_text(dumps(diagnostics) + "\n", encoding="utf-8")
    roi.to_csv(out_dir / "roi.csv", index=False)
    return FitResult(diagnostics=diagnostics, roi=roi,
                     files={"diagnostics": "diagnostics.json", "roi": "roi.csv", "predictive": "predictions.parquet"})


class SubprocessFit:
    """``job`` running in a fresh Python process (:mod:`mmm_meridian.models.worker`) from construction on, so the
    caller can work while it samples; :meth:`wait` collects it, :meth:`stop` ends it (a no-op once collected)."""

    def __init__(self, job: FitJob, out_dir: Path, env: dict[str, str], what: str) -> None:
        self.out_dir, self.what = out_dir, what
        out_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="mmm-fit-")
        job_path = job.write(Path(self._tmp.name) / "job.json")
        command = [sys.executable, "-m", "mmm_meridian.models.worker", str(job_path), str(out_dir)]
        self._started = time.monotonic()
        self.process = subprocess.Popen(command, env=env)

    def wait(self, timeout_s: float) -> dict:
        """The fit's diagnostics once it has finished (``timeout_s`` counted from its start).

        Raises:
            UserError: the fit failed or ran past ``timeout_s`` (a UserError raised in the child keeps its message
                and fix).
        """
        try:
            returncode = self.process.wait(timeout=max(0.0, timeout_s - (time.monotonic() - self._started)))
        except subprocess.TimeoutExpired as exc:
            self.stop()
            raise UserError(f"{self.what} did not finish within {timeout_s:.0f} s", where=str(self.out_dir),
                            fix="raise training.split_timeout_s, use a lighter sampler preset or disable the "
                                "strategy") from exc
        except BaseException:  # Ctrl-C / SIGTERM while waiting: the fit does not outlive the stage
            self.stop()
            raise
        self._tmp.cleanup()
        error = self.out_dir / "error.json"
        if returncode != 0:
            detail = json.loads(error.read_text()) if error.is_file() else {"what": f"exit status {returncode}"}
            error.unlink(missing_ok=True)
            raise UserError(f"{self.what} failed: {detail.get('what', '')[-800:]}",
                            where=detail.get("where") or str(self.out_dir), fix=detail.get("fix") or "see the log above")
        return json.loads((self.out_dir / "diagnostics.json").read_text(encoding="utf-8"))

    def stop(self) -> None:
        """Kill the fit if it is still running and remove its job file."""
        _kill(self.process)
        self._tmp.cleanup()


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` if it still runs, and reap it."""
    if process.poll() is None:
        process.kill()
        process.wait()


def why_not_overlap(plan: RuntimePlan) -> str | None:
    """Why a stage's work may not run in a second process beside another's (``runtime.overlap_stages``); None when it
    may: on a CPU with 2 or more cores (one core would only alternate the two; one GPU keeps one fit's memory).

    The machine's load is not asked: right after train, the load average still counts train's and the refit's own
    processes, and a rule on it refused the report's early page in a cold demo run (benchmarks/RESULTS.md).
    """
    if plan.device != "cpu":
        return "the fit runs on a GPU, which keeps one fit's memory"
    if (os.cpu_count() or 1) < 2:
        return "this machine has one core"
    return None


class SubprocessSummary:
    """An engine's model summary page being written in a fresh Python process (:func:`mmm_meridian.models.worker.
    model_summary`) from construction on: ``folder / filename`` from the saved model at ``model_file``, thinned to
    ``max_draws`` posterior draws."""

    def __init__(self, engine: str, model_file: Path, max_draws: int | None, folder: Path, filename: str,
                 env: dict[str, str]) -> None:
        self.model_file, self.page = model_file, folder / filename
        command = [sys.executable, "-m", "mmm_meridian.models.worker", "model-summary", engine, str(model_file),
                   "all" if max_draws is None else str(max_draws), str(folder), filename]
        self.process = subprocess.Popen(command, env=env)

    def wait(self, timeout_s: float | None = None) -> bool:
        """True when the process finished cleanly (the page is written, or the engine logged why not); False when it
        failed or ran past ``timeout_s`` (then it is stopped)."""
        try:
            return self.process.wait(timeout=timeout_s) == 0
        except subprocess.TimeoutExpired:
            self.stop()
            return False
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill the process if it still runs."""
        _kill(self.process)


def run_in_subprocess(job: FitJob, out_dir: Path, env: dict[str, str], timeout_s: float, what: str) -> dict:
    """Run ``job`` in a fresh Python process (:class:`SubprocessFit`) with ``env`` (the engine's
    :meth:`~mmm_meridian.models.base.Engine.child_env`) and wait for it; returns its diagnostics.

    Raises:
        UserError: the fit failed or ran past ``timeout_s`` (a UserError raised in the child keeps its message and
            fix).
    """
    return SubprocessFit(job, out_dir, env, what).wait(timeout_s)

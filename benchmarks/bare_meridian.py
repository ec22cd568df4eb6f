"""A bare Meridian fit: what a user would write without mmm_meridian, for the benchmarks to compare against.

It imports Meridian directly (never ``mmm_meridian``) and reproduces the train stage's fit from the features stage's
two files: ``model_inputs.parquet`` (one row per geo and week) and ``feature_spec.json`` (read as plain JSON). Same
InputData columns, same priors (ROI LogNormal, decay Beta, ec LogNormal per channel), same ModelSpec (knots, max_lag,
adstock decay function, Hill order, holdout of the last weeks), same sampler calls and seed. With ``outputs`` it also
produces what ``mmm train`` writes (R-hat / ESS, ROI table, saved model), so both sides do the same work.

    python benchmarks/bare_meridian.py --inputs features/model_inputs.parquet --spec features/feature_spec.json \\
        --chains 2 --adapt 200 --burnin 100 --keep 200 --seed 42 --prior-draws 100 --backend jax --precision float32

Prints one JSON line: timings per phase (import, build, prior, posterior, outputs), ESS / R-hat and ROI means.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _set_backend(backend: str, precision: str) -> None:
    # Meridian reads these when it is first imported.
    if "meridian" in sys.modules:
        loaded = os.environ.get("MERIDIAN_BACKEND", "jax")
        if loaded != backend:
            raise RuntimeError(f"meridian is already imported with backend {loaded}; fit in a fresh process")
    os.environ["MERIDIAN_BACKEND"] = backend
    os.environ["MERIDIAN_ENABLE_JAX_X64"] = "true" if precision == "float64" else "false"


def _build(inputs: pd.DataFrame, spec: dict[str, Any], default_priors: bool) -> Any:
    from meridian import backend
    from meridian.data import data_frame_input_data_builder as builder
    from meridian.model import model, prior_distribution
    from meridian.model import spec as model_spec

    frame = inputs.copy()
    frame["time"] = pd.to_datetime(frame["time"]).dt.strftime("%Y-%m-%d")
    channels = [c["channel"] for c in spec["channels"]]
    data = (builder.DataFrameInputDataBuilder(kpi_type="revenue")
            .with_kpi(frame, kpi_col="revenue", time_col="time", geo_col="geo")
            .with_population(frame, population_col="population", geo_col="geo")
            .with_media(frame, media_cols=[f"{c}__media" for c in channels],
                        media_spend_cols=[f"{c}__spend" for c in channels], media_channels=channels,
                        time_col="time", geo_col="geo"))
    controls = [c["name"] for c in spec.get("controls", [])]
    if controls:
        data = data.with_controls(frame, control_cols=controls, time_col="time", geo_col="geo")
    input_data = data.build()

    holdout = None
    weeks = sorted(pd.to_datetime(inputs["time"]).unique())
    if spec.get("holdout_weeks", 0) > 0:
        start = pd.Timestamp(weeks[-spec["holdout_weeks"]]).strftime("%Y-%m-%d")
        holdout = model_spec.HoldoutSpec(spec=[model_spec.DateRange(start_date=start)])
    if default_priors:
        return model.Meridian(input_data=input_data, model_spec=model_spec.ModelSpec(
            prior=prior_distribution.PriorDistribution(), media_prior_type="roi", holdout=holdout))

    def arr(key: str) -> np.ndarray:
        # Plain Python floats fail on JAX (dtype mismatch): use the backend's float dtype.
        return np.asarray([c["priors"][key] for c in spec["channels"]], dtype=backend.np_float_dtype)

    prior = prior_distribution.PriorDistribution(
        roi_m=backend.tfd.LogNormal(arr("roi_mu"), arr("roi_sigma"), name="roi_m"),
        alpha_m=backend.tfd.Beta(arr("decay_alpha"), arr("decay_beta"), name="alpha_m"),
        ec_m=backend.tfd.LogNormal(arr("ec_mu"), arr("ec_sigma"), name="ec_m"))
    return model.Meridian(input_data=input_data, model_spec=model_spec.ModelSpec(
        prior=prior, media_prior_type="roi", holdout=holdout, knots=spec.get("knots"), max_lag=spec["max_lag"],
        adstock_decay_spec=spec["decay_function"], hill_before_adstock=spec["hill_before_adstock"]))


def _convergence(idata: Any) -> dict[str, float]:
    import arviz as az

    posterior = idata.posterior
    rhat, ess = az.rhat(posterior), az.ess(posterior, method="bulk")
    r = np.concatenate([np.asarray(rhat[v], dtype=np.float64).reshape(-1) for v in rhat.data_vars])
    e = np.concatenate([np.asarray(ess[v], dtype=np.float64).reshape(-1) for v in ess.data_vars])
    r, e = r[np.isfinite(r)], e[np.isfinite(e)]
    return {"max_rhat": float(r.max()) if r.size else float("nan"),
            "min_ess": float(e.min()) if e.size else float("nan"),
            "median_ess": float(np.median(e)) if e.size else float("nan"), "n_ess_values": int(e.size)}


def _roi_means(mmm: Any) -> dict[str, float]:
    from meridian.analysis import analyzer

    tool = analyzer.Analyzer(mmm)
    names = [str(c) for c in mmm.input_data.media_channel.values]
    roi = np.asarray(tool.roi(), dtype=np.float64).reshape(-1, len(names))
    # mmm train also computes incremental revenue per channel: same Analyzer work on both sides.
    np.asarray(tool.incremental_outcome(include_non_paid_channels=False), dtype=np.float64)
    return dict(zip(names, roi.mean(axis=0).round(4).tolist(), strict=True))


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def fit(inputs_path: str | Path, spec: str | Path | dict[str, Any], *, n_chains: int, n_adapt: int, n_burnin: int,
        n_keep: int, seed: int = 42, n_prior_draws: int = 100, max_tree_depth: int = 10, backend: str = "jax",
        precision: str = "float32", outputs: bool = True, out_dir: str | Path | None = None,
        default_priors: bool = False, reconstruction_batch_size: int | None = None) -> dict[str, Any]:
    """Fit one Meridian model exactly as the train stage does, with Meridian's API only.

    Args:
        inputs_path: the features stage's ``model_inputs.parquet`` (or any table with its columns).
        spec: ``feature_spec.json`` path, or the same content as a dict.
        n_chains, n_adapt, n_burnin, n_keep, seed, n_prior_draws, max_tree_depth: the sampler settings.
        backend, precision: Meridian's backend ("jax" / "tensorflow") and float precision; must be set before the
            first Meridian import in this process.
        outputs: also compute R-hat / ESS and the ROI table (and save the model when ``out_dir`` is given).
        default_priors: Meridian's default priors, knots and adstock instead of the spec's.
        reconstruction_batch_size: passed to ``sample_posterior`` (None keeps Meridian's default).

    Returns:
        Seconds per phase and, with ``outputs``, convergence figures and ROI means.
    """
    started = time.perf_counter()
    _set_backend(backend, precision)
    import meridian  # noqa: F401 - timed: the import is part of what a fresh process pays

    timings: dict[str, float] = {"import_seconds": time.perf_counter() - started}
    spec_dict = spec if isinstance(spec, dict) else json.loads(Path(spec).read_text(encoding="utf-8"))
    t = time.perf_counter()
    mmm = _build(pd.read_parquet(inputs_path), spec_dict, default_priors)
    timings["build_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    mmm.sample_prior(n_prior_draws, seed=seed)
    timings["prior_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    extra = {} if reconstruction_batch_size is None else {"reconstruction_batch_size": reconstruction_batch_size}
    mmm.sample_posterior(n_chains=n_chains, n_adapt=n_adapt, n_burnin=n_burnin, n_keep=n_keep, seed=seed,
                         max_tree_depth=max_tree_depth, **extra)
    timings["sampling_seconds"] = time.perf_counter() - t
    result: dict[str, Any] = {"backend": backend, "precision": precision,
                              "peak_rss_after_sampling_mb": _peak_rss_mb()}
    if outputs:
        t = time.perf_counter()
        result.update(_convergence(mmm.inference_data))
        result["roi_mean"] = _roi_means(mmm)
        if out_dir is not None:
            from meridian.schema.serde import meridian_serde

            Path(out_dir).mkdir(parents=True, exist_ok=True)
            meridian_serde.save_meridian(mmm, str(Path(out_dir) / "model.binpb"))
        timings["outputs_seconds"] = time.perf_counter() - t
    timings["total_seconds"] = time.perf_counter() - started
    return {**{k: round(v, 3) for k, v in timings.items()}, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", required=True, help="model_inputs.parquet")
    parser.add_argument("--spec", required=True, help="feature_spec.json")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--adapt", type=int, default=200)
    parser.add_argument("--burnin", type=int, default=100)
    parser.add_argument("--keep", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--prior-draws", type=int, default=100)
    parser.add_argument("--max-tree-depth", type=int, default=10)
    parser.add_argument("--backend", choices=["jax", "tensorflow"], default="jax")
    parser.add_argument("--precision", choices=["float32", "float64"], default="float32")
    parser.add_argument("--out", help="folder to save model.binpb in (like mmm train)")
    parser.add_argument("--no-outputs", action="store_true", help="sampling only: no R-hat / ESS / ROI / save")
    parser.add_argument("--default-priors", action="store_true", help="Meridian's default priors and ModelSpec")
    args = parser.parse_args(argv)
    result = fit(args.inputs, args.spec, n_chains=args.chains, n_adapt=args.adapt, n_burnin=args.burnin,
                 n_keep=args.keep, seed=args.seed, n_prior_draws=args.prior_draws,
                 max_tree_depth=args.max_tree_depth, backend=args.backend, precision=args.precision,
                 outputs=not args.no_outputs, out_dir=args.out, default_priors=args.default_priors)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

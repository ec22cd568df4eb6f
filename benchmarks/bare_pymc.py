"""A bare PyMC-Marketing fit: what a user would write without mmm_meridian, for the benchmarks to compare against.

It imports PyMC-Marketing directly (never ``mmm_meridian``) and fits the features stage's two files:
``model_inputs.parquet`` (one row per geo and week) and ``feature_spec.json`` (read as plain JSON), the way
PyMC-Marketing's documentation does it, with its OWN defaults rather than the pipeline's model:

- ``pymc_marketing.mmm.multidimensional.MMM`` (0.19's MMM class; the older ``pymc_marketing.mmm.MMM`` is deprecated),
  ``dims=("geo",)`` when the data has several geos, none for a national series;
- channel inputs: the ``<channel>__spend`` columns (PyMC-Marketing's usual convention: spend in, ROAS out);
- ``GeometricAdstock(l_max=spec max_lag, or 8)`` and ``LogisticSaturation()``, adstock first, with their default
  priors (``adstock_alpha ~ Beta(1, 3)``, ``saturation_lam ~ Gamma(3, 1)``, ``saturation_beta ~ HalfNormal(2)``);
- the spec's control columns as they are (``gamma_control ~ Normal(0, 2)``), no ``yearly_seasonality`` (the spec's
  Fourier and holiday columns already are controls), PyMC-Marketing's default intercept, likelihood and scaling
  (target and channels divided by their maximum);
- no trend knots, ROI priors, geo spreads or masked likelihood (the pipeline's additions); a spec holdout of the
  last ``holdout_weeks`` weeks is fitted the way a user would do it: on the weeks before it only.

Sampling is ``mmm.fit(..., nuts_sampler="numpyro")`` with ``chains``, ``tune = n_adapt + n_burnin``,
``draws = n_keep`` and ``random_seed``. ROI per posterior draw = the channel's contribution summed over every fitted
week (and geo) in revenue units (PyMC-Marketing's ``mmm.data.get_channel_contributions(original_scale=True)``) /
its spend over the same weeks (``mmm.data.get_channel_spend()``)::

    python benchmarks/bare_pymc.py --inputs features/model_inputs.parquet --spec features/feature_spec.json \\
        --chains 2 --adapt 200 --burnin 100 --keep 200 --seed 42

Prints one JSON line: timings per phase (import, build, sampling, outputs), peak memory, R-hat / ESS, divergences and
per channel the ROI's posterior mean and 90 % interval, with the smallest bulk ESS of those per-draw ROIs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATE = "date"
GEO = "geo"
TARGET = "revenue"
DEFAULT_L_MAX = 8


def _frames(inputs: pd.DataFrame, spec: dict[str, Any]) -> tuple[pd.DataFrame, pd.Series, list[str], list[str],
                                                                     bool]:
    """PyMC-Marketing's X (date, [geo], one spend column per channel, controls) and y (revenue)."""
    channels = [c["channel"] for c in spec["channels"]]
    controls = [c["name"] for c in spec.get("controls", [])]
    frame = inputs.copy()
    frame[DATE] = pd.to_datetime(frame["time"])
    frame[GEO] = frame["geo"].astype(str)
    holdout = int(spec.get("holdout_weeks") or 0)
    if holdout > 0:  # fit the weeks before the holdout, as a user holding out the last weeks would
        weeks = sorted(frame[DATE].unique())
        frame = frame[frame[DATE] < weeks[-holdout]]
    geo_model = frame[GEO].nunique() > 1
    frame = frame.sort_values([DATE, GEO]).reset_index(drop=True)
    X = frame[[DATE, *([GEO] if geo_model else [])]].copy()
    for channel in channels:
        X[channel] = frame[f"{channel}__spend"].to_numpy(np.float64)
    for control in controls:
        X[control] = frame[control].to_numpy(np.float64)
    y = frame["revenue"].astype(np.float64).rename(TARGET)
    return X, y, channels, controls, geo_model


def _build(X: pd.DataFrame, y: pd.Series, channels: list[str], controls: list[str], geo_model: bool,
           l_max: int) -> Any:
    from pymc_marketing.mmm import GeometricAdstock, LogisticSaturation
    from pymc_marketing.mmm.multidimensional import MMM

    mmm = MMM(date_column=DATE, target_column=TARGET, channel_columns=channels, control_columns=controls or None,
              adstock=GeometricAdstock(l_max=l_max), saturation=LogisticSaturation(),
              dims=(GEO,) if geo_model else None)
    mmm.build_model(X, y)
    return mmm


def _convergence(idata: Any) -> dict[str, float]:
    """Largest R-hat and smallest / median bulk ESS over every posterior value (as ``bare_meridian``), divergences."""
    import arviz as az

    posterior = idata.posterior
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant draws or one chain: NaN, dropped below
        rhat, ess = az.rhat(posterior), az.ess(posterior, method="bulk")
    r = np.concatenate([np.asarray(rhat[v], dtype=np.float64).reshape(-1) for v in rhat.data_vars])
    e = np.concatenate([np.asarray(ess[v], dtype=np.float64).reshape(-1) for v in ess.data_vars])
    r, e = r[np.isfinite(r)], e[np.isfinite(e)]
    stats = getattr(idata, "sample_stats", None)
    divergences = int(np.asarray(stats["diverging"]).sum()) if stats is not None and "diverging" in stats else 0
    return {"max_rhat": float(r.max()) if r.size else float("nan"),
            "min_ess": float(e.min()) if e.size else float("nan"),
            "median_ess": float(np.median(e)) if e.size else float("nan"), "n_ess_values": int(e.size),
            "divergences": divergences}


def roi_draws(mmm: Any) -> Any:
    """ROI per (chain, draw, channel): contribution over every fitted week and geo in revenue units / spend."""
    contributions = mmm.data.get_channel_contributions(original_scale=True)
    spend = mmm.data.get_channel_spend()
    contribution = contributions.sum(dim=[d for d in contributions.dims if d not in ("chain", "draw", "channel")])
    total_spend = spend.sum(dim=[d for d in spend.dims if d != "channel"])
    return (contribution / total_spend.where(total_spend > 0)).transpose("chain", "draw", "channel")


def _roi_summary(roi: Any) -> dict[str, Any]:
    import arviz as az

    names = [str(c) for c in roi["channel"].values]
    flat = np.asarray(roi, dtype=np.float64).reshape(-1, len(names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ess = np.asarray(az.ess(roi.rename("roi").to_dataset(), method="bulk")["roi"], dtype=np.float64)
    ess = ess[np.isfinite(ess)]

    def per_channel(values: np.ndarray) -> dict[str, float]:
        return dict(zip(names, np.round(values, 4).tolist(), strict=True))

    return {"roi_mean": per_channel(flat.mean(axis=0)), "roi_lo_90": per_channel(np.quantile(flat, 0.05, axis=0)),
            "roi_hi_90": per_channel(np.quantile(flat, 0.95, axis=0)),
            "roi_min_ess": float(ess.min()) if ess.size else float("nan")}


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def fit(inputs_path: str | Path, spec: str | Path | dict[str, Any], *, n_chains: int, n_adapt: int, n_burnin: int,
        n_keep: int, seed: int = 42, max_tree_depth: int = 10, l_max: int | None = None,
        outputs: bool = True) -> dict[str, Any]:
    """Fit one PyMC-Marketing MMM with PyMC-Marketing's defaults (see the module docstring), numpyro NUTS.

    Args:
        inputs_path: the features stage's ``model_inputs.parquet`` (or any table with its columns).
        spec: ``feature_spec.json`` path, or the same content as a dict (channels, controls, max_lag, holdout_weeks).
        n_chains, n_adapt, n_burnin, n_keep, seed, max_tree_depth: the sampler settings (``tune = n_adapt +
            n_burnin``; the tree depth is numpyro's, 10 being its default).
        l_max: the adstock's window in weeks (default: the spec's ``max_lag``, or 8 when it has none).
        outputs: also compute R-hat / ESS, divergences and the ROI table.

    Returns:
        Seconds per phase, peak memory and, with ``outputs``, convergence figures and ROI per channel.
    """
    started = time.perf_counter()
    import pymc_marketing  # noqa: F401 - timed: the import is part of what a fresh process pays
    from pymc_marketing.mmm.multidimensional import MMM  # noqa: F401

    timings: dict[str, float] = {"import_seconds": time.perf_counter() - started}
    spec_dict = spec if isinstance(spec, dict) else json.loads(Path(spec).read_text(encoding="utf-8"))
    t = time.perf_counter()
    X, y, channels, controls, geo_model = _frames(pd.read_parquet(inputs_path), spec_dict)
    window = int(l_max or spec_dict.get("max_lag") or DEFAULT_L_MAX)
    mmm = _build(X, y, channels, controls, geo_model, window)
    timings["build_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    mmm.fit(X, y, chains=n_chains, tune=n_adapt + n_burnin, draws=n_keep, random_seed=seed,
            nuts_sampler="numpyro", nuts_sampler_kwargs={"nuts_kwargs": {"max_tree_depth": max_tree_depth}},
            progressbar=False)
    timings["sampling_seconds"] = time.perf_counter() - t
    result: dict[str, Any] = {"geo_model": geo_model, "l_max": window, "n_weeks": int(X[DATE].nunique()),
                              "peak_rss_after_sampling_mb": _peak_rss_mb()}
    if outputs:
        t = time.perf_counter()
        result.update(_convergence(mmm.idata))
        result.update(_roi_summary(roi_draws(mmm)))
        timings["outputs_seconds"] = time.perf_counter() - t
    timings["total_seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = _peak_rss_mb()
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
    parser.add_argument("--max-tree-depth", type=int, default=10)
    parser.add_argument("--l-max", type=int, default=None, help="adstock window (default: spec max_lag, or 8)")
    parser.add_argument("--no-outputs", action="store_true", help="sampling only: no R-hat / ESS / ROI")
    args = parser.parse_args(argv)
    result = fit(args.inputs, args.spec, n_chains=args.chains, n_adapt=args.adapt, n_burnin=args.burnin,
                 n_keep=args.keep, seed=args.seed, max_tree_depth=args.max_tree_depth, l_max=args.l_max,
                 outputs=not args.no_outputs)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

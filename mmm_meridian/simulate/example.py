"""Complete example datasets with Meridian's wider vocabulary and their truth, written to files.

:func:`example_spec` describes a national (one series) or geo (one brand in four territories) business with the
six default impression channels, a reach-and-frequency channel, an organic medium, a promotion as a non-media
treatment, a conversions KPI and two lift tests; :func:`write_dataset` simulates a spec and writes what a pipeline
run and a recovery benchmark need: the weekly data as CSV, the truth JSON and the experiments CSV.
:func:`data_config` gives the ``data`` config keys that read the written CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian.errors import ConfigError
from mmm_meridian.simulate.causes import ExperimentSpec, OrganicTruth, RfChannelTruth, TreatmentTruth
from mmm_meridian.simulate.dataset import SimulatedDataset
from mmm_meridian.simulate.simulator import simulate
from mmm_meridian.simulate.spec import SimulationSpec

EXAMPLE_SERIES: dict[str, tuple[tuple[str, str], ...]] = {
    "national": (("brand_a", "GB"),),
    "geo": (("brand_a", "GB"), ("brand_a", "US"), ("brand_a", "DE"), ("brand_a", "FR")),
}
EXAMPLE_SCALES: dict[str, tuple[float, ...]] = {"national": (1.0,), "geo": (1.0, 1.4, 0.8, 0.6)}
RF_CHANNEL = RfChannelTruth("youtube_rf", roi=1.6)
ORGANIC = OrganicTruth("newsletter")
TREATMENT = TreatmentTruth("promotion")


def experiment_window(spec_start: str, first_week: int, n_weeks: int) -> tuple[str, str]:
    """ISO dates (inclusive) of ``n_weeks`` whole weeks starting ``first_week`` weeks (0-based) after the start."""
    start = pd.Timestamp(spec_start) + pd.Timedelta(weeks=first_week)
    end = start + pd.Timedelta(days=7 * n_weeks - 1)
    return start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")


def example_spec(kind: str = "national", seed: int = 0, **overrides: Any) -> SimulationSpec:
    """A spec using every piece of Meridian's vocabulary the simulator knows.

    Two lift tests of four weeks, ROI measured with standard error 0.3: ``google_search`` nationally from a quarter
    of the period (week 39 of 156), and ``youtube_rf`` (the R&F channel) from two fifths of it (week 62), in GB for
    the geo kind (nationally for the national one). ``n_weeks`` must leave room for both (>= 12).

    Args:
        kind: ``national`` (brand_a in GB) or ``geo`` (brand_a in GB, US, DE and FR, scales 1, 1.4, 0.8, 0.6).
        seed: the spec's seed.
        overrides: any other :class:`SimulationSpec` field (e.g. ``n_weeks``, ``experiments``).

    Raises:
        ConfigError: unknown kind.
    """
    if kind not in EXAMPLE_SERIES:
        raise ConfigError(f"unknown example kind {kind!r}", where="example_spec(kind=...)",
                          fix=f"use one of {sorted(EXAMPLE_SERIES)}")
    start = overrides.get("start", SimulationSpec.start)
    n_weeks = overrides.get("n_weeks", SimulationSpec.n_weeks)
    # A quarter and two fifths into the period: away from its end, so the carryover of the tested spend is seen.
    experiments = (
        ExperimentSpec("google_search", *experiment_window(start, n_weeks // 4, 4)),
        ExperimentSpec(RF_CHANNEL.name, *experiment_window(start, 2 * n_weeks // 5, 4),
                       geo="GB" if kind == "geo" else None),
    )
    values: dict[str, Any] = {
        "series": EXAMPLE_SERIES[kind], "series_scale": EXAMPLE_SCALES[kind], "seed": seed,
        "rf_channels": (RF_CHANNEL,), "organic": (ORGANIC,), "treatments": (TREATMENT,),
        "kpi_type": "conversions", "experiments": experiments,
    }
    return SimulationSpec(**{**values, **overrides})


@dataclass(frozen=True)
class DatasetFiles:
    """What :func:`write_dataset` wrote.

    Attributes:
        data: the data CSV (weekly: one row per series and week, dated by ``week_start``; daily: ``date_day``).
        truth: the truth JSON (see :func:`mmm_meridian.simulate.simulate`).
        experiments: the experiments CSV (``channel,start,end[,geo]`` then ``roi,roi_se`` or
            ``incremental_revenue,incremental_revenue_se``); None when the spec has no experiments.
    """

    data: Path
    truth: Path
    experiments: Path | None


def write_dataset(out_dir: str | Path, dataset: SimulatedDataset | SimulationSpec, name: str = "simulated",
                  grain: str = "weekly") -> DatasetFiles:
    """Simulates a spec (or takes a simulated dataset) and writes ``<name>.csv``, ``<name>_truth.json`` and, with
    experiments, ``<name>_experiments.csv`` into ``out_dir`` (created if missing). Identical input gives identical
    bytes.

    Args:
        out_dir: the folder.
        dataset: a spec to simulate, or a dataset simulated already.
        name: the files' stem.
        grain: ``weekly`` (the weekly table, R&F columns included) or ``daily`` (the daily rows: only without
            reach-and-frequency channels, whose reach does not split into days).

    Raises:
        ConfigError: an unknown grain, or daily data asked for with reach-and-frequency channels.
    """
    if isinstance(dataset, SimulationSpec):
        dataset = simulate(dataset)
    if grain not in ("weekly", "daily"):
        raise ConfigError(f"unknown grain {grain!r}", where="write_dataset(grain=...)", fix="use weekly or daily")
    if grain == "daily" and dataset.rf_weekly is not None:
        raise ConfigError("reach and frequency are weekly figures: they have no daily rows",
                          where="write_dataset(grain='daily')", fix="write the weekly grain")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_path, truth_path = out / f"{name}.csv", out / f"{name}_truth.json"
    table = dataset.weekly if grain == "weekly" else dataset.daily
    table.to_csv(data_path, index=False, date_format="%Y-%m-%d", lineterminator="\n")
    truth_path.write_text(dataset.to_json_truth(), encoding="utf-8")
    experiments_path = None
    if dataset.truth.get("experiments"):
        experiments_path = out / f"{name}_experiments.csv"
        dataset.experiments_frame().to_csv(experiments_path, index=False, lineterminator="\n")
    return DatasetFiles(data_path, truth_path, experiments_path)


def data_config(dataset: SimulatedDataset, grain: str = "weekly") -> dict[str, Any]:
    """The ``data`` config keys that read a CSV written by :func:`write_dataset` (one brand: the series' first
    organisation; a geo model by ``territory_name`` when the dataset has several territories).

    The paid channels' spend, impressions and clicks, the R&F channels' reach and frequency, organic media,
    treatments, the KPI and its revenue per conversion are mapped; ``avg_price`` is a control and ``promo_flag``
    the promotion calendar of the baseline, as in the demo config.
    """
    truth, spec = dataset.truth, dataset.spec
    channels = list(truth["channels"])
    rf = list(truth.get("rf_channels", {}))
    territories = sorted({territory for _, territory in spec.series})
    conversions = dataset.kpi_type == "conversions"
    config: dict[str, Any] = {
        "date_col": "week_start" if grain == "weekly" else "date_day",
        "revenue_col": "conversions" if conversions else "all_purchases_original_price",
        "kpi_type": dataset.kpi_type,
        "revenue_per_kpi_col": "revenue_per_conversion" if conversions else None,
        "channel_map": {c: f"{c}_spend" for c in channels + rf},
        "impressions_map": {c: f"{c}_impressions" for c in channels},
        "clicks_map": {c: f"{c}_clicks" for c in channels},
        "reach_map": {c: f"{c}_reach" for c in rf},
        "frequency_map": {c: f"{c}_frequency" for c in rf},
        "organic_map": {o: f"{o}_volume" for o in truth.get("organic", {})},
        "non_media_treatments": list(truth.get("treatments", {})),
        "controls": ["avg_price"],
        "promo_col": "promo_flag",
        "keys": ["organisation_id", "territory_name"],
        "geo_col": "territory_name" if len(territories) > 1 else None,
        "series": {"organisation_id": spec.series[0][0],
                   "territory_name": None if len(territories) > 1 else territories[0]},
        "frequency": grain,
    }
    return config


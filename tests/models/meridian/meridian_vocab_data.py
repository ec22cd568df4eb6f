"""Model inputs and feature specs with Meridian's whole media vocabulary, built by hand from Meridian's simulated data.

The features stage's contract (:mod:`mmm_meridian.feature_spec`) written out by hand: two media channels (impressions)
and one reach-and-frequency channel, an organic medium, a promotion as a non-media treatment, one control and a
conversions KPI with its revenue per conversion. Source: ``../shared/data/meridian_simulated/``
(``national_all_channels.csv`` and, for the R&F channel, ``national_media_rf.csv``: same weeks; Apache-2.0,
google/meridian).

A plain module with a name of its own (this test folder is not a package, so that it cannot shadow ``meridian``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.feature_spec import (
    REACH_FREQUENCY,
    ChannelInput,
    ChannelPriors,
    ControlInput,
    ExperimentInput,
    FeatureSpec,
    OrganicInput,
)
from mmm_meridian.models.base import SamplerSettings

SIMULATED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "meridian_simulated"
MEDIA = ("Channel0", "Channel1")
RF = "rf_video"  # Channel3 of national_media_rf.csv, with its reach and frequency
ORGANIC = "newsletter"  # Organic_channel0_impression
PROMO = "Promo"
CONTROL = "competitor_sales_control"
N_WEEKS = 104  # the last two years: enough for every effect, small enough for a quick fit
TINY = SamplerSettings(n_chains=1, n_adapt=30, n_burnin=10, n_keep=20, seed=3, n_prior_draws=0)


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(SIMULATED / name, parse_dates=["time"])


def vocabulary_inputs(kpi: str = "conversions", n_weeks: int = N_WEEKS) -> pd.DataFrame:
    """National model inputs (the contract's column names) with every kind of cause.

    Args:
        kpi: ``conversions`` (KPI = conversions, ``revenue_per_kpi`` beside it) or ``revenue`` (KPI = conversions x
            revenue per conversion, the same money).
        n_weeks: the last ``n_weeks`` weeks of the data.
    """
    every = _read("national_all_channels.csv")
    rf = _read("national_media_rf.csv")[["time", "Channel3_reach", "Channel3_frequency", "Channel3_spend"]]
    rf = rf.rename(columns={"Channel3_spend": "rf_spend"})  # national_all_channels.csv has its own Channel3
    data = every.merge(rf, on="time", how="inner").sort_values("time").tail(n_weeks).reset_index(drop=True)
    frame = pd.DataFrame({"time": data["time"], "geo": "national", "population": 1.0})
    if kpi == "conversions":
        frame["revenue"] = data["conversions"]
        frame["revenue_per_kpi"] = data["revenue_per_conversion"]
    else:
        frame["revenue"] = data["conversions"] * data["revenue_per_conversion"]
    for channel in MEDIA:
        frame[f"{channel}__media"] = data[f"{channel}_impression"]
        frame[f"{channel}__spend"] = data[f"{channel}_spend"]
    frame[f"{RF}__reach"] = data["Channel3_reach"]
    frame[f"{RF}__frequency"] = data["Channel3_frequency"]
    frame[f"{RF}__spend"] = data["rf_spend"]
    frame[f"{ORGANIC}__organic"] = data["Organic_channel0_impression"]
    frame[PROMO] = data["Promo"]
    frame[CONTROL] = data["competitor_sales_control"]
    return frame


def priors(channel: str, roi: tuple[float, float] = (0.2, 0.9), decay: float = 0.4,
           window: list[list[str]] | None = None, source: str = "test") -> ChannelPriors:
    """A channel's priors: LogNormal ROI (mu, sigma), Beta decay around ``decay``, Meridian's default ec."""
    return ChannelPriors(channel=channel, roi_mu=roi[0], roi_sigma=roi[1], roi_source=source, roi_bounds=None,
                         decay=decay, decay_alpha=decay * 10, decay_beta=(1 - decay) * 10, decay_fixed=False,
                         decay_source="test", ec_mu=math.log(0.8), ec_sigma=1 / math.sqrt(2), k=0.8,
                         k_source="test", roi_window=window, roi_experiments=[1] if window else [])


def vocabulary_spec(inputs: pd.DataFrame, *, rf: bool = True, organic: bool = True, promo: bool = True,
                    kpi_type: str = "conversions", experiments: list[ExperimentInput] | None = None,
                    rf_roi: tuple[float, float] = (0.5, 0.4), channel0_roi: tuple[float, float] = (0.2, 0.9),
                    knots: int | None = 2) -> FeatureSpec:
    """The feature spec of :func:`vocabulary_inputs`; ``experiments`` set Channel0's (or the R&F channel's) ROI prior
    window to the experiment's weeks, as the features stage does."""
    windows: dict[str, list[list[str]]] = {}
    for test in experiments or []:
        windows.setdefault(test.channel, []).append([test.start, test.end])
    channels = [ChannelInput(channel, "impressions", f"{channel}_impression", float(inputs[f"{channel}__spend"].sum()),
                             priors(channel, channel0_roi if channel == "Channel0" else (0.2, 0.9),
                                    window=windows.get(channel)))
                for channel in MEDIA]
    if rf:
        channels.append(ChannelInput(RF, REACH_FREQUENCY, "Channel3_reach", float(inputs[f"{RF}__spend"].sum()),
                                     priors(RF, rf_roi, decay=0.3, window=windows.get(RF))))
    times = pd.to_datetime(inputs["time"])
    return FeatureSpec(
        channels=channels, controls=[ControlInput(CONTROL, "data_control")], geos=["national"],
        time_start=times.min().strftime("%Y-%m-%d"), time_end=times.max().strftime("%Y-%m-%d"),
        n_weeks=int(times.nunique()), population_source="test", knots=knots, knots_reason="test",
        decay_function="geometric", max_lag=4, hill_before_adstock=False, holdout_weeks=0,
        organic=[OrganicInput(ORGANIC, "Organic_channel0_impression")] if organic else [],
        treatments=[ControlInput(PROMO, "non_media_treatment")] if promo else [],
        experiments=list(experiments or []), kpi_type=kpi_type)


def experiment(inputs: pd.DataFrame, channel: str, start: str, end: str, roi: float = 1.5, roi_se: float = 0.3,
               row: int = 1, geo: str | None = None) -> ExperimentInput:
    """A lift test of ``channel`` over the weeks ``start``..``end`` (inclusive), national or in ``geo``."""
    times = pd.to_datetime(inputs["time"])
    inside = (times >= pd.Timestamp(start)) & (times <= pd.Timestamp(end))
    if geo is not None:
        inside &= inputs["geo"] == geo
    spend = float(inputs.loc[inside, f"{channel}__spend"].sum())
    return ExperimentInput(row=row, channel=channel, start=start, end=end, geo=geo, roi=roi, roi_se=roi_se,
                           measured="roi", spend=spend)


def fit_tiny(inputs: pd.DataFrame, spec: FeatureSpec) -> Any:
    """Build and sample a Meridian-engine model with the tiny sampler (warnings silenced)."""
    from mmm_meridian.models.meridian import ENGINE

    model = ENGINE.build(inputs, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ENGINE.sample(model, TINY)
    return model


def week(inputs: pd.DataFrame, index: int) -> str:
    """The ISO date of the model's ``index``-th week."""
    return pd.Timestamp(np.sort(pd.to_datetime(inputs["time"]).unique())[index]).strftime("%Y-%m-%d")


GEOS = ("Geo0", "Geo1", "Geo2")


def geo_inputs(n_weeks: int = 60) -> pd.DataFrame:
    """A 3-geo model's inputs from ``geo_media_rf.csv``: Channel0 and Channel1 (impressions), Channel3 as the
    reach-and-frequency channel ``rf_video``, population, conversions with their revenue per conversion."""
    data = _read("geo_media_rf.csv")
    data = data[data["geo"].isin(GEOS)]
    weeks = np.sort(data["time"].unique())[-n_weeks:]
    data = data[data["time"].isin(weeks)].sort_values(["geo", "time"]).reset_index(drop=True)
    frame = pd.DataFrame({"time": data["time"], "geo": data["geo"], "population": data["population"],
                          "revenue": data["conversions"], "revenue_per_kpi": data["revenue_per_conversion"]})
    for channel in MEDIA:
        frame[f"{channel}__media"] = data[f"{channel}_impression"]
        frame[f"{channel}__spend"] = data[f"{channel}_spend"]
    frame[f"{RF}__reach"] = data["Channel3_reach"]
    frame[f"{RF}__frequency"] = data["Channel3_frequency"]
    frame[f"{RF}__spend"] = data["Channel3_spend"]
    return frame


def geo_spec(inputs: pd.DataFrame, experiments: list[ExperimentInput]) -> FeatureSpec:
    """The feature spec of :func:`geo_inputs` with the experiments' windows on their channels' ROI priors."""
    national = vocabulary_spec(inputs, organic=False, promo=False, experiments=experiments, knots=4)
    return dataclasses.replace(national, geos=list(GEOS), controls=[], geo_variation={"media": 0.3, "controls": None})

"""The report's building blocks: number formatting, reading evaluate / transform reports, the decomposition maths."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.models.meridian.outputs import decomposition
from mmm_meridian.report import quality
from mmm_meridian.report.formatting import label, money, pct, share


def test_money_and_shares_read_as_an_executive_expects() -> None:
    assert money(1234567.4, "GBP") == "GBP 1,234,567"
    assert money(-2500, "EUR") == "-EUR 2,500"
    # a net-zero component (a seasonality sum of -0.3) reads 0, not "-EUR 0"; likewise percentages
    assert money(-0.3, "EUR") == "EUR 0" and money(-0.3, "EUR", decimals=1) == "-EUR 0.3"
    assert pct(-0.04) == "0.0 %" and pct(-0.04, signed=True) == "+0.0 %" and pct(-0.06) == "-0.1 %"
    assert money(float("nan"), "GBP") == "n/a"
    assert pct(4.449, signed=True) == "+4.4 %"
    assert share(0.4231) == "42.3 %"
    assert label("meta_facebook") == "Meta Facebook"


def test_metric_rows_read_flat_and_nested_layouts() -> None:
    doc = {"holdout": {"mape": 0.2, "r2": 0.7, "thresholds": {"mape": 0.15}, "passed": {"mape": False}},
           "rolling": [{"split": "a", "coverage": {"value": 0.85, "threshold": 0.8, "passed": True}}],
           "digital_checks": {"mape": 9.0}}
    rows = quality.metric_rows(doc).set_index(["scope", "metric"])
    assert len(rows) == 3  # the digital checks are their own table, thresholds are no scope
    assert rows.loc[("holdout", "mape"), "threshold"] == 0.15
    assert rows.loc[("holdout", "mape"), "passed"] is False
    assert rows.loc[("holdout", "r2"), "passed"] is None
    assert rows.loc[("rolling/a", "coverage"), "value"] == 0.85


def test_cleaning_actions_summarise_changes_by_rule() -> None:
    log = {"changes": [{"rule": "outliers.winsorize", "column": "revenue", "rows": 2, "total_change": -5.0},
                       {"rule": "outliers.winsorize", "column": "tiktok_spend", "rows": 1, "total_change": -1.0},
                       {"rule": "duplicates.drop", "column": "*", "rows": 3}]}
    table = quality.cleaning_actions(log).set_index("rule")
    assert table.loc["outliers.winsorize", "entries"] == 2
    assert table.loc["outliers.winsorize", "rows"] == 3
    assert table.loc["outliers.winsorize", "columns"] == "revenue, tiktok_spend"
    assert table.loc["duplicates.drop", "rows"] == 3


def _fake_model(n_times: int = 6) -> tuple[SimpleNamespace, SimpleNamespace, np.ndarray]:
    """A two-geo model with two controls whose revenue effects are known in closed form."""
    rng = np.random.default_rng(0)
    controls = rng.normal(size=(2, n_times, 2))
    gamma = rng.normal(size=(2, 3, 2, 2))  # chain, draw, geo, control
    population = np.array([2.0, 3.0])
    stdev = 10.0
    times = [f"2024-01-{d:02d}" for d in range(1, n_times + 1)]
    mmm = SimpleNamespace(
        controls_scaled=controls, kpi_transformer=SimpleNamespace(population_scaled_stdev=stdev),
        inference_data=SimpleNamespace(posterior={"gamma_gc": gamma}),
        input_data=SimpleNamespace(population=population, time=SimpleNamespace(values=np.array(times)),
                                   media_channel=SimpleNamespace(values=np.array(["search", "social"])),
                                   controls=SimpleNamespace(control_variable=SimpleNamespace(
                                       values=np.array(["annual_sin_1", "avg_price"])))))
    media = rng.uniform(1, 5, size=(2, 3, n_times, 2))
    tool = SimpleNamespace(incremental_outcome=lambda **_: media)
    g = gamma.reshape(-1, 2, 2).mean(axis=0)
    effect = np.stack([(controls[:, :, c] * g[:, c][:, None] * population[:, None]).sum(axis=0) * stdev
                       for c in range(2)], axis=1)
    return mmm, tool, effect


def test_decomposition_adds_up_and_groups_controls_by_kind() -> None:
    mmm, tool, effect = _fake_model()
    times = pd.to_datetime(mmm.input_data.time.values)
    fit = pd.DataFrame({"time": times, "expected": np.linspace(100, 150, len(times))})
    parts = decomposition(mmm, tool, {"annual_sin_1": "annual_fourier", "avg_price": "data_control"}, fit)
    wide = parts.pivot_table(index="time", columns="component", values="revenue")
    assert wide.sum(axis=1).to_numpy() == pytest.approx(fit["expected"].to_numpy())
    assert wide["seasonality_and_holidays"].to_numpy() == pytest.approx(effect[:, 0])
    assert wide["other_controls"].to_numpy() == pytest.approx(effect[:, 1])
    assert set(parts.loc[parts["component_type"] == "media", "component"]) == {"search", "social"}

"""Messy simulated data with a known clean reference, shared by the validate and transform tests (fixtures)."""

from __future__ import annotations

import pandas as pd
import pytest

from mmm_meridian.config import MMMConfig, load_config
from mmm_meridian.simulate import DEFECTS, MessyResult, SimulationSpec, make_messy, simulate

KEY = ["mmm_timeseries_id", "date_day"]


@pytest.fixture(scope="session")
def clean_daily() -> pd.DataFrame:
    """One series (brand_a GB, as the demo data config selects) of 104 simulated weeks."""
    spec = SimulationSpec(n_weeks=104, series=(("brand_a", "GB"),), series_scale=(1.0,), seed=7)
    return simulate(spec).daily


@pytest.fixture(scope="session")
def messy(clean_daily: pd.DataFrame) -> MessyResult:
    return make_messy(clean_daily, list(DEFECTS), seed=3)


@pytest.fixture(scope="session")
def demo_cfg(tmp_path_factory: pytest.TempPathFactory) -> MMMConfig:
    root = tmp_path_factory.mktemp("cfg")
    return load_config([f"paths.root={root}", "tracking.enabled=false"])


def rows_of(frame: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Rows of a standardized frame at the (series, day) keys of a defect log, in key order."""
    times = pd.DatetimeIndex(keys["date_day"])
    return frame.set_index("time").loc[times].rename_axis("time").reset_index()

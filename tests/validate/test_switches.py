"""``validation.override_gate``: data that fails the gate stops the validate stage, or goes on with a warning."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.errors import DataError
from mmm_meridian.pipeline import run_stage


def test_override_gate_stops_or_continues_on_failing_data(make_cfg, tmp_path, clean_daily, caplog):
    short = clean_daily[clean_daily["date_day"] < pd.Timestamp("2022-07-04")]  # too few weeks: a critical failure
    path = tmp_path / "short.csv"
    short.to_csv(path, index=False)
    source = ("ingest.connector_priority=[local_csv]", f"ingest.local_csv.path={path}")
    strict = make_cfg(*source, "validation.override_gate=false")
    lenient = make_cfg(*source, "validation.override_gate=true")
    store = ArtifactStore(strict.paths.artifacts)
    run_stage(strict, "ingest", store)

    with pytest.raises(DataError, match="data validation failed"):
        run_stage(strict, "validate", store)
    assert store.manifest("validate") is None

    with caplog.at_level(logging.WARNING, logger="mmm_meridian"):
        run_stage(lenient, "validate", store)
    report = json.loads((store.stage_dir("validate") / "validation_report.json").read_text())
    assert (report["passed"], report["gate_overridden"], report["critical_failures"]) == (False, True, ["min_weeks"])
    assert store.manifest("validate") is not None
    assert "validate: the gate failed but validation.override_gate=true: continuing" in caplog.messages

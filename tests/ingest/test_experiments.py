"""The experiments file (``calibration.experiments``): strict parsing, CSV and inline alike, and what ingest writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.config.loader import to_plain
from mmm_meridian.errors import DataError, UserError
from mmm_meridian.ingest.stage import READS, fingerprint
from mmm_meridian.pipeline import is_up_to_date, run_stage
from mmm_meridian.tables import experiments as ex

VALID_CSV = """channel,start,end,geo,roi,roi_se,incremental_revenue,incremental_revenue_se
google_search,2023-03-06,2023-04-02,,1.6,0.4,,
meta_facebook,2023-06-07,2023-06-20,GB,,,30000,9000
tiktok,2024-01-01,2024-01-28, ,2,0.5,,
"""
INLINE = [
    {"channel": "google_search", "start": "2023-03-06", "end": "2023-04-02", "roi": 1.6, "roi_se": 0.4},
    {"channel": "meta_facebook", "start": "2023-06-07", "end": "2023-06-20", "geo": "GB",
     "incremental_revenue": 30000, "incremental_revenue_se": "9000"},
    {"channel": "tiktok", "start": "2024-01-01", "end": "2024-01-28", "geo": None, "roi": "2", "roi_se": 0.5},
]


def _write(tmp_path: Path, text: str, name: str = "tests.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _csv_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(DataError) as info:
        ex.read_experiments(str(_write(tmp_path, text)))
    line = info.value.one_line()
    assert "\n" not in line and "fix:" in line
    return line


def test_a_valid_csv_is_normalised_with_data_row_numbers(tmp_path):
    rows, source = ex.read_experiments(str(_write(tmp_path, VALID_CSV)))
    assert list(rows.columns) == list(ex.COLUMNS)
    assert rows["row"].tolist() == [1, 2, 3]
    assert rows["channel"].tolist() == ["google_search", "meta_facebook", "tiktok"]
    assert rows["geo"].tolist() == [None, "GB", None]  # empty and blank cells are a national test
    assert rows["measured"].tolist() == ["roi", "incremental_revenue", "roi"]
    assert rows["start"].tolist() == [pd.Timestamp("2023-03-06"), pd.Timestamp("2023-06-07"), pd.Timestamp("2024-01-01")]
    np.testing.assert_array_equal(rows["roi"].to_numpy(), [1.6, np.nan, 2.0])
    np.testing.assert_array_equal(rows["incremental_revenue_se"].to_numpy(), [np.nan, 9000.0, np.nan])
    assert source["kind"] == "csv" and Path(source["path"]).is_absolute() and len(source["sha256"]) == 64


def test_the_same_rows_inline_parse_identically(tmp_path):
    from_csv, _ = ex.read_experiments(str(_write(tmp_path, VALID_CSV)))
    inline, source = ex.read_experiments(INLINE)
    pd.testing.assert_frame_equal(from_csv, inline)
    assert source == {"kind": "inline"}


def test_row_numbers_are_the_line_number_minus_one_even_after_a_blank_line(tmp_path):
    text = "channel,start,end,roi,roi_se\ntv,2023-01-02,2023-01-08,1,0.2\n\ntv,2023-02-06,2023-02-12,1,x\n"
    assert "experiment row 3: roi_se 'x' is not a number" in _csv_error(tmp_path, text)


def test_a_file_with_only_one_pair_of_columns_and_no_geo_column(tmp_path):
    rows, _ = ex.read_experiments(str(_write(tmp_path, "channel,start,end,incremental_revenue,"
                                                       "incremental_revenue_se\ntv,2023-01-02,2023-01-15,500,100\n")))
    assert rows.loc[0, "geo"] is None and rows.loc[0, "measured"] == "incremental_revenue"
    assert np.isnan(rows.loc[0, "roi"]) and rows.loc[0, "incremental_revenue"] == 500.0


def test_a_utf8_bom_and_spaces_around_names_are_fine(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffchannel, start ,end,roi,roi_se\ntv , 2023-01-02,2023-01-08, 1.5 ,0.2\n".encode())
    rows, _ = ex.read_experiments(str(path))
    assert rows.loc[0, "channel"] == "tv" and rows.loc[0, "roi"] == 1.5


@pytest.mark.parametrize(("text", "expected"), [
    ("channel,start,end,roi,roi_se,notes\ntv,2023-01-02,2023-01-08,1,0.2,x\n", "unknown column(s) ['notes']"),
    ("channel,end,roi,roi_se\ntv,2023-01-08,1,0.2\n", "lacks the column(s) ['start']"),
    ("channel,start,end,roi\ntv,2023-01-02,2023-01-08,1\n", "has column 'roi' without 'roi_se'"),
    ("channel,start,end,geo\ntv,2023-01-02,2023-01-08,\n", "neither roi,roi_se nor incremental_revenue"),
    ("channel,start,end,roi,roi,roi_se\ntv,2023-01-02,2023-01-08,1,1,0.2\n", "repeats column(s) ['roi']"),
    ("channel;start;end;roi;roi_se\ntv;2023-01-02;2023-01-08;1;0.2\n", "not comma-separated"),
    ("", "experiments file is empty"),
    ("channel,start,end,roi,roi_se\n", "the experiments hold no test"),
])
def test_a_malformed_file_is_refused_with_one_line(tmp_path, text, expected):
    line = _csv_error(tmp_path, text)
    assert expected in line, line


HEADER = "channel,start,end,geo,roi,roi_se,incremental_revenue,incremental_revenue_se\n"
GOOD = "tv,2023-01-02,2023-01-08,,1,0.2,,\n"


@pytest.mark.parametrize(("bad_row", "expected"), [
    ("tv,2023-01-02,2023-01-08,,1,0.2,500,100", "experiment row 2: fills both roi,roi_se and incremental_revenue"),
    ("tv,2023-01-02,2023-01-08,,,,,", "experiment row 2: fills neither roi,roi_se nor incremental_revenue"),
    ("tv,2023-01-02,2023-01-08,,1,,,", "experiment row 2: roi is given without roi_se"),
    ("tv,2023-01-02,2023-01-08,,,,,100", "experiment row 2: incremental_revenue_se is given without "
                                         "incremental_revenue"),
    ("tv,2023-01-02,2023-01-08,,1.5x,0.2,,", "experiment row 2: roi '1.5x' is not a number"),
    ("tv,2023-01-02,2023-01-08,,nan,0.2,,", "experiment row 2: roi 'nan' is not a number"),
    ("tv,2023-01-02,2023-01-08,,,,\"1,200\",100", "experiment row 2: incremental_revenue '1,200' is not a number"),
    ("tv,02/01/2023,2023-01-08,,1,0.2,,", "experiment row 2: start '02/01/2023' is not a date YYYY-MM-DD"),
    ("tv,2023-01-02,2023-02-30,,1,0.2,,", "experiment row 2: end '2023-02-30' is not a date YYYY-MM-DD"),
    (",2023-01-02,2023-01-08,,1,0.2,,", "experiment row 2: channel is empty"),
    ("tv,2023-01-02,,,1,0.2,,", "experiment row 2: end is empty"),
    ("tv,2023-01-02,2023-01-08,1,0.2,,", "experiment row 2: 7 fields where the header has 8"),
])
def test_a_bad_row_is_refused_naming_the_row(tmp_path, bad_row, expected):
    line = _csv_error(tmp_path, HEADER + GOOD + bad_row + "\n")
    assert expected in line, line
    assert str(tmp_path / "tests.csv") in line  # where: the file


@pytest.mark.parametrize(("bad", "expected"), [
    ({"channel": "tv", "start": "2023-01-02", "end": "2023-01-08", "roi": 1, "roi_se": 0.2, "rio": 1},
     "experiment row 2: unknown key(s) ['rio']"),
    ({"channel": "tv", "start": "2023-01-02", "end": "2023-01-08", "roi": True, "roi_se": 0.2},
     "experiment row 2: roi 'True' is not a number"),
    ({"channel": "tv", "start": "2023-01-02", "end": "2023-01-08", "roi": 1},
     "experiment row 2: roi is given without roi_se"),
    ({"channel": "tv", "start": "2023-1-2", "end": "2023-01-08", "roi": 1, "roi_se": 0.2},
     "experiment row 2: start '2023-1-2' is not a date"),
])
def test_a_bad_inline_row_is_refused_naming_its_position(bad, expected):
    good = {"channel": "tv", "start": "2023-01-02", "end": "2023-01-08", "roi": 1, "roi_se": 0.2}
    with pytest.raises(DataError) as info:
        ex.read_experiments([good, bad])
    line = info.value.one_line()
    assert expected in line and "calibration.experiments" in line, line


def test_inline_dates_may_be_date_objects():
    import datetime as dt

    rows = ex.parse_inline([{"channel": "tv", "start": dt.date(2023, 1, 2), "end": dt.datetime(2023, 1, 8),
                             "roi": 1, "roi_se": 0.2}])
    assert rows.loc[0, "end"] == pd.Timestamp("2023-01-08")


def test_a_relative_path_is_read_from_the_working_folder_like_the_data_file(tmp_path, monkeypatch):
    _write(tmp_path, VALID_CSV)
    monkeypatch.chdir(tmp_path)
    rows, source = ex.read_experiments("tests.csv")
    assert len(rows) == 3 and source["path"] == str((tmp_path / "tests.csv").resolve())


def test_a_missing_file_is_a_data_error_naming_the_config_key(tmp_path):
    with pytest.raises(DataError, match="does not exist.*calibration.experiments"):
        ex.read_experiments(str(tmp_path / "nope.csv"))


def test_records_round_trip(tmp_path):
    rows, _ = ex.read_experiments(str(_write(tmp_path, VALID_CSV)))
    records = ex.to_records(rows)
    assert records[1] == {"row": 2, "channel": "meta_facebook", "start": "2023-06-07", "end": "2023-06-20",
                          "geo": "GB", "measured": "incremental_revenue", "roi": None, "roi_se": None,
                          "incremental_revenue": 30000.0, "incremental_revenue_se": 9000.0}
    json.dumps(records)
    pd.testing.assert_frame_equal(ex.from_records(records), rows)


def test_covered_weeks_are_those_whose_seven_days_touch_the_test():
    weeks = pd.date_range("2023-01-02", periods=10, freq="7D")  # Mondays
    assert ex.covered_weeks(pd.Timestamp("2023-01-02"), pd.Timestamp("2023-01-08"), weeks) == [weeks[0]]
    # Wednesday to the Tuesday after: two model weeks.
    assert ex.covered_weeks(pd.Timestamp("2023-01-11"), pd.Timestamp("2023-01-17"), weeks) == [weeks[1], weeks[2]]
    assert ex.covered_weeks(pd.Timestamp("2023-01-08"), pd.Timestamp("2023-01-09"), weeks) == [weeks[0], weeks[1]]
    assert ex.covered_weeks(pd.Timestamp("2022-12-01"), pd.Timestamp("2022-12-31"), weeks) == []


# -- the ingest stage ---------------------------------------------------------------------------------------------------
def test_ingest_declares_it_reads_calibration():
    assert "calibration" in READS


def test_ingest_writes_the_rows_and_editing_the_csv_reruns_it(make_cfg, tmp_path):
    path = _write(tmp_path, VALID_CSV.replace(",GB,", ",,"))
    cfg = make_cfg(f"calibration.experiments={path}")
    store = ArtifactStore(cfg.paths.artifacts)
    manifest = run_stage(cfg, "ingest", store)
    written = json.loads((store.stage_dir("ingest") / ex.ARTIFACT).read_text())
    assert written["source"]["path"] == str(path.resolve()) and written["tests"] == 3
    assert [r["row"] for r in written["rows"]] == [1, 2, 3] and written["rows"][1]["incremental_revenue"] == 30000.0
    summary = json.loads((store.stage_dir("ingest") / "ingest_summary.json").read_text())
    assert summary["experiments"]["tests"] == 3
    assert manifest.extra["fingerprint"] == fingerprint(cfg) and "+experiments-" in fingerprint(cfg)
    assert is_up_to_date(cfg, "ingest", store, to_plain(cfg))

    path.write_text(VALID_CSV.replace("1.6,0.4", "1.7,0.4").replace(",GB,", ",,"), encoding="utf-8")
    assert fingerprint(cfg) != manifest.extra["fingerprint"]
    assert not is_up_to_date(cfg, "ingest", store, to_plain(cfg))
    path.unlink()
    assert fingerprint(cfg) is None  # a missing file: re-run, which says so


def test_ingest_with_inline_experiments_is_keyed_on_them_through_the_config(make_cfg):
    cfg = make_cfg("calibration.experiments=[{channel: tiktok, start: 2024-01-01, end: 2024-01-28, roi: 2, "
                   "roi_se: 0.5}]")
    assert fingerprint(cfg) == fingerprint(make_cfg())  # the rows are in the config, which the stage is keyed on
    store = ArtifactStore(cfg.paths.artifacts)
    run_stage(cfg, "ingest", store)
    written = json.loads((store.stage_dir("ingest") / ex.ARTIFACT).read_text())
    assert written["source"] == {"kind": "inline"} and written["rows"][0]["roi"] == 2.0
    other = make_cfg("calibration.experiments=[{channel: tiktok, start: 2024-01-01, end: 2024-01-28, roi: 2.5, "
                     "roi_se: 0.5}]")
    assert not is_up_to_date(other, "ingest", store, to_plain(other))


def test_ingest_without_experiments_writes_no_file(make_cfg):
    cfg = make_cfg()
    store = ArtifactStore(cfg.paths.artifacts)
    run_stage(cfg, "ingest", store)
    assert not (store.stage_dir("ingest") / ex.ARTIFACT).exists()


def test_a_bad_experiments_row_stops_ingest_before_anything_is_written(make_cfg, tmp_path):
    path = _write(tmp_path, HEADER + GOOD + "tv,2023-01-02,2023-01-08,,abc,0.2,,\n")
    cfg = make_cfg(f"calibration.experiments={path}")
    store = ArtifactStore(cfg.paths.artifacts)
    with pytest.raises(UserError) as info:
        run_stage(cfg, "ingest", store)
    assert isinstance(info.value, DataError) and "experiment row 2: roi 'abc' is not a number" in str(info.value)
    assert store.manifest("ingest") is None

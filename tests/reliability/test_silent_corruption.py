"""Common export formats must be read right or refused, never turned silently into other numbers or dates.

Each test writes the base data in one export style, runs the ingest core and accepts either a clear refusal
(``UserError``) or a weekly table equal to the one made from the plain ISO / dot-decimal file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mmm_meridian.config import load_config
from mmm_meridian.errors import UserError
from mmm_meridian.ingest.stage import ingest
from tests.reliability.corpus import CASE_DATA, base_frame, write_data_config

CHECKED = ["revenue", "google_search_spend", "tiktok_spend", "meta_facebook_impressions"]


def _weekly(path: Path, tmp_path: Path, **local_csv: object) -> pd.DataFrame:
    conf = write_data_config(tmp_path / f"conf_{path.stem}", path, ingest=dict(local_csv))
    cfg = load_config([f"data={CASE_DATA}", f"paths.root={tmp_path}"], config_dir=conf)
    return ingest(cfg)[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("reference")
    path = folder / "plain.csv"
    base_frame().to_csv(path, index=False, date_format="%Y-%m-%d")
    return _weekly(path, folder)


def _read_right_or_refused(path: Path, tmp_path: Path, reference: pd.DataFrame, words: list[str]) -> None:
    try:
        weekly = _weekly(path, tmp_path)
    except UserError as exc:
        line = exc.one_line().lower()
        assert any(word in line for word in words) and exc.fix, line
        return
    pd.testing.assert_frame_equal(weekly[["time", *CHECKED]], reference[["time", *CHECKED]], check_dtype=False,
                                  rtol=1e-9)


def test_decimal_comma_export_is_read_right_or_refused(tmp_path: Path, reference: pd.DataFrame) -> None:
    path = tmp_path / "european.csv"
    base_frame().to_csv(path, index=False, sep=";", decimal=",", date_format="%Y-%m-%d")
    _read_right_or_refused(path, tmp_path, reference, ["decimal", "comma"])


def test_day_first_dates_are_read_right_or_refused(tmp_path: Path, reference: pd.DataFrame) -> None:
    path = tmp_path / "uk_dates.csv"
    base_frame().to_csv(path, index=False, date_format="%d/%m/%Y")
    _read_right_or_refused(path, tmp_path, reference, ["day", "ambiguous", "date format"])


@pytest.mark.parametrize("style", ["month_first", "utf8_bom", "tab", "crlf", "thousands"])
def test_other_export_styles_are_read_right(style: str, tmp_path: Path, reference: pd.DataFrame) -> None:
    frame = base_frame().copy()
    path = tmp_path / f"{style}.csv"
    if style == "month_first":
        frame.to_csv(path, index=False, date_format="%m/%d/%Y")
    elif style == "utf8_bom":
        path.write_bytes(frame.to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8-sig"))
    elif style == "tab":
        frame.to_csv(path, index=False, sep="\t", date_format="%Y-%m-%d")
    elif style == "crlf":
        path.write_bytes(frame.to_csv(index=False, date_format="%Y-%m-%d").replace("\n", "\r\n").encode())
    else:  # "12,345.67" with quotes, as spreadsheets export formatted numbers
        for column in ("all_purchases_original_price", "google_search_spend"):
            frame[column] = frame[column].map("{:,.2f}".format)
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    weekly = _weekly(path, tmp_path)
    pd.testing.assert_frame_equal(weekly[["time", *CHECKED]], reference[["time", *CHECKED]], check_dtype=False,
                                  rtol=1e-9)

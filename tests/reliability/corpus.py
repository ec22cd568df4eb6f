"""A corpus of broken input files, written into a test's tmp folder at test time (nothing big is committed).

Every case starts from the same realistic base: two series (brand_a in GB and US) of the embedded demo's daily data
in the Conjura schema, written as CSV and read through the ``local_csv`` connector with the demo's column mapping
(see :func:`write_data_config`). A case then breaks one thing, and says which stage must refuse it and which words
the one-line error has to contain (alternatives allowed, compared case-insensitively).
"""

from __future__ import annotations

import functools
import gzip
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mmm_meridian.simulate import load_demo

MMM = str(Path(sys.executable).with_name("mmm"))
DATE = "date_day"
REVENUE = "all_purchases_original_price"
SPEND = "google_search_spend"
CASE_DATA = "case"  # the data config name used with data=<name>
REVENUE_GAP_DAYS = 31 * 7  # GB revenue left empty from 2022-02-07 (day 35) to 2022-09-11


@functools.lru_cache(maxsize=1)
def base_frame() -> pd.DataFrame:
    """brand_a's daily rows in GB and US (156 weeks, six channels); a copy must be taken before changing it."""
    daily = load_demo().daily
    return daily[daily["organisation_id"] == "brand_a"].reset_index(drop=True)


def write_frame(frame: pd.DataFrame, path: Path, **kwargs: object) -> Path:
    frame.to_csv(path, index=False, date_format="%Y-%m-%d", **kwargs)  # type: ignore[arg-type]
    return path


def write_data_config(conf_dir: Path, data_path: Path, *, data: dict | None = None, ingest: dict | None = None,
                      extra: dict | None = None) -> Path:
    """Write ``conf_dir/data/case.yaml`` (the demo's mapping, read from ``data_path`` by local_csv); returns conf_dir."""
    demo = yaml.safe_load((resources.files("mmm_meridian") / "conf" / "data" / "demo.yaml").read_text("utf-8"))
    demo["ingest"] = {"connector_priority": ["local_csv"], "local_csv": {"path": str(data_path), **(ingest or {})}}
    demo["data"].update(data or {})
    demo.update(extra or {})
    target = conf_dir / "data" / f"{CASE_DATA}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("# @package _global_\n" + yaml.safe_dump(demo, sort_keys=False), encoding="utf-8")
    return conf_dir


@dataclass(frozen=True)
class Case:
    """One broken input.

    Attributes:
        name: test id.
        build: writes the data file into the folder it gets and returns its path.
        expect: groups of words; the error line must contain at least one word of every group.
        stage: the first stage that must refuse it (a later stage means ingest must let it through).
        data: overrides of the ``data`` section written into the data config file.
        ingest: settings of ``ingest.local_csv`` written into the data config file.
        extra: other top-level sections written into the data config file (a typo lands there).
        overrides: command-line overrides.
        bug: why the case fails today (a known bug: the test is marked xfail, strict).
    """

    name: str
    build: Callable[[Path], Path]
    expect: Sequence[Sequence[str]]
    stage: str = "ingest"
    data: dict = field(default_factory=dict)
    ingest: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    bug: str = ""




def _csv(change: Callable[[pd.DataFrame], pd.DataFrame], **kwargs: object) -> Callable[[Path], Path]:
    """A builder writing the base frame after ``change`` (which gets a copy) as data.csv."""
    def build(folder: Path) -> Path:
        return write_frame(change(base_frame().copy()), folder / "data.csv", **kwargs)
    return build


def _raw(content: bytes | Callable[[], bytes], name: str = "data.csv") -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content() if callable(content) else content)
        return path
    return build


def _base_text() -> str:
    return base_frame().to_csv(index=False, date_format="%Y-%m-%d")


def _header_only() -> bytes:
    return (",".join(base_frame().columns) + "\n").encode()


def _latin1() -> bytes:
    frame = base_frame().copy()
    frame["currency_code"] = "£ sterling"  # 0xA3 in latin-1: not valid UTF-8
    return frame.to_csv(index=False, date_format="%Y-%m-%d").encode("latin-1")


def _gzip_of_base() -> bytes:
    return gzip.compress(_base_text().encode())  # ~130 kB on disk, ~480 kB expanded


def _rename(old: str, new: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda f: f.rename(columns={old: new})


def _set_rows(column: str, value: object, rows: slice | Sequence[int]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f[column] = f[column].astype(object)
        f.loc[f.index[rows], column] = value
        return f
    return change


def _gb_positions(f: pd.DataFrame, days: int, start: int = 30) -> list[int]:
    """Row positions of ``days`` consecutive GB days (the modelled series), ``start`` days in."""
    gb = np.flatnonzero(f["territory_name"].to_numpy() == "GB")
    return gb[start:start + days].tolist()


def _gb_rows(column: str, value: object, days: int = 7, start: int = 35) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(f: pd.DataFrame) -> pd.DataFrame:
        f[column] = f[column].astype(object)
        f.loc[f.index[_gb_positions(f, days, start)], column] = value
        return f
    return change


def _mixed_dates(f: pd.DataFrame) -> pd.DataFrame:
    text = f[DATE].dt.strftime("%Y-%m-%d")
    later = f[DATE] >= f[DATE].min() + pd.Timedelta(days=400)
    f[DATE] = text.where(~later, f[DATE].dt.strftime("%d/%m/%Y"))
    return f


def _conflicting_duplicates(f: pd.DataFrame) -> pd.DataFrame:
    dup = f.iloc[_gb_positions(f, 3, 100)].copy()
    dup[REVENUE] = dup[REVENUE] * 3
    dup[SPEND] = dup[SPEND] + 500
    return pd.concat([f, dup], ignore_index=True)


def _daily_then_weekly(f: pd.DataFrame) -> pd.DataFrame:
    """The last 40 weeks of each series delivered as weekly totals (one row dated Monday) instead of days."""
    cut = f[DATE].max() - pd.Timedelta(weeks=40)
    cut -= pd.Timedelta(days=cut.weekday())
    daily, late = f[f[DATE] < cut], f[f[DATE] >= cut].copy()
    late["week"] = late[DATE] - pd.to_timedelta(late[DATE].dt.weekday, unit="D")
    numeric = [c for c in late.columns if pd.api.types.is_numeric_dtype(late[c]) and c != DATE]
    text = [c for c in late.columns if c not in numeric and c not in (DATE, "week")]
    weekly = late.groupby(["territory_name", "week"], as_index=False).agg(
        {**{c: "sum" for c in numeric}, **{c: "first" for c in text if c != "territory_name"}})
    weekly = weekly.rename(columns={"week": DATE})[f.columns]
    return pd.concat([daily, weekly], ignore_index=True)


def _first_weeks(weeks: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda f: f[f[DATE] < f[DATE].min() + pd.Timedelta(weeks=weeks)]


def _into_future(f: pd.DataFrame) -> pd.DataFrame:
    """Shift the dates (by whole weeks) so that the data ends 20 weeks after today."""
    end = pd.Timestamp.today().normalize() + pd.Timedelta(weeks=20)
    f[DATE] = f[DATE] + pd.Timedelta(weeks=(end - f[DATE].max()).days // 7)
    return f


def _zero_channel(f: pd.DataFrame) -> pd.DataFrame:
    for suffix in ("spend", "impressions", "clicks", "platform_revenue"):
        f[f"tiktok_{suffix}"] = 0
    return f


CASES: list[Case] = [
    # -- refused by ingest (file, format, mapping and config problems) ------------------------------------------------
    Case("missing_file", lambda folder: folder / "nowhere.csv", [["does not exist"], ["ingest.local_csv.path"]]),
    Case("empty_file", _raw(b""), [["empty"], ["data.csv"]]),
    Case("header_only", _raw(_header_only), [["no data rows"], ["data.csv"]]),
    Case("wrong_delimiter", _csv(lambda f: f, sep=";"), [["delimiter"], ["ingest.local_csv.delimiter"]],
         ingest={"delimiter": ","}),
    Case("latin1_bytes", _raw(_latin1), [["utf-8"], ["ingest.local_csv.encoding"]]),
    Case("utf16_file", _raw(lambda: _base_text().encode("utf-16")), [["utf-8"], ["ingest.local_csv.encoding"]]),
    Case("missing_date_column", _csv(_rename(DATE, "date_dya")), [["'date_day'"], ["data.date_col"], ["date_dya"]]),
    Case("missing_revenue_column", _csv(_rename(REVENUE, "all_purchases_orig_price")),
         [["data.revenue_col"], ["all_purchases_orig_price"]]),
    Case("missing_channel_column", _csv(_rename("tiktok_spend", "tik_tok_spend")),
         [["'tiktok_spend'"], ["data.channel_map.tiktok"], ["tik_tok_spend"]]),
    Case("unparsable_dates", _csv(_set_rows(DATE, "not a date", [40, 41])), [["not a date"], ["date_day"]]),
    Case("mixed_date_formats", _csv(_mixed_dates), [["mixes formats", "mixed"], ["date_day"]]),
    Case("non_numeric_spend", _csv(_set_rows(SPEND, "n/a (paused)", [7])), [["n/a (paused)"], [SPEND]]),
    Case("huge_file", _csv(lambda f: f), [["cap"], ["ingest.local_csv.max_bytes"]], ingest={"max_bytes": 100_000}),
    Case("gzip_expands_past_cap", _raw(_gzip_of_base, "data.csv.gz"), [["cap", "max_bytes"]],
         ingest={"max_bytes": 200_000}),
    Case("filter_selects_nothing", _csv(lambda f: f), [["selects no rows"], ["data.series"], ["gb"]],
         data={"series": {"organisation_id": "brand_a", "territory_name": "FR"}}),
    Case("config_typo_in_file", _csv(lambda f: f), [["revenue_colum"]], data={"revenue_colum": REVENUE}),
    Case("config_typo_override", _csv(lambda f: f), [["revenue_colum"]],
         overrides=("data.revenue_colum=" + REVENUE,)),
    Case("config_out_of_range", _csv(lambda f: f), [["min_weeks_required"], ["out of range"]],
         overrides=("validation.coverage_frequency.min_weeks_required=0",)),
    Case("config_bad_enum", _csv(lambda f: f), [["data.frequency", "frequency"], ["hourly"]],
         overrides=("data.frequency=hourly",)),
    # -- let through by ingest, refused by the validate gate ------------------------------------------------------------
    Case("negative_spend", _csv(_gb_rows(SPEND, -250.0)), [["negative"], ["google_search"]], stage="validate"),
    Case("inf_revenue", _csv(_gb_rows(REVENUE, "inf", days=1)), [["revenue"], ["inf", "non-finite", "non_finite"]],
         stage="validate"),
    Case("too_few_weeks", _csv(_first_weeks(30)), [["week"], ["52"]], stage="validate"),
    Case("all_zero_channel", _csv(_zero_channel), [["tiktok"]], stage="validate"),
    Case("constant_revenue", _csv(_set_rows(REVENUE, 1000.0, slice(None))),
         [["revenue"], ["constant", "variation", "variance"]], stage="validate"),
    Case("future_dates", _csv(_into_future), [["future"]], stage="validate"),
    Case("daily_and_weekly_mixed", _csv(_daily_then_weekly), [["mixed_frequencies", "mixes daily and weekly"]],
         stage="validate"),
    # 31 weeks (20 % of the history) without revenue: interpolating them would invent a fifth of the sales.
    Case("revenue_gap_31_weeks", _csv(_gb_rows(REVENUE, "", days=REVENUE_GAP_DAYS)),
         [["kpi_gaps"], ["revenue"], ["31.0 weeks"], ["2022-02-07"], ["2022-09-11"], ["kpi_long_gaps"]],
         stage="validate"),
    Case("revenue_gap_31_weeks_gate_overridden", _csv(_gb_rows(REVENUE, "", days=REVENUE_GAP_DAYS)),
         [["revenue"], ["31.0 weeks"], ["max_gap_days"], ["kpi_long_gaps=exclude"]], stage="transform",
         overrides=("validation.override_gate=true",)),
    # -- repaired by transform by default (imputed, summed); refused when the user asks for it ------------------------
    Case("missing_revenue_week", _csv(_gb_rows(REVENUE, "")), [["revenue", "kpi"], ["missing"]], stage="transform",
         overrides=("enhanced_cleaning.missing_data.kpi_policy=fail",)),
    Case("conflicting_duplicates", _csv(_conflicting_duplicates), [["duplicat"]], stage="transform",
         overrides=("enhanced_cleaning.duplicates.conflicting=fail",)),
]

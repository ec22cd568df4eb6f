"""``logging.progress``: the figshare connector shows a download progress bar, or stays silent."""

from __future__ import annotations

import pytest

from mmm_meridian.ingest.connectors import load_figshare
from tests.ingest import fake_figshare as _fake
from tests.ingest.fake_figshare import FakeFigshare

fake_figshare = _fake.fake_figshare  # the fixture

CSV = b"date_day,revenue\n2024-01-01,10\n2024-01-08,12\n"


def _download(make_cfg, server: FakeFigshare, tmp_path, name: str, progress: str):
    cfg = make_cfg(f"logging.progress={progress}", f"paths.cache={tmp_path / name}",
                   f"ingest.figshare.api_base={server.api_base}", f"ingest.figshare.article_id={server.article_id}",
                   "ingest.figshare.file_name=shop.csv", "ingest.figshare.timeout_s=5", "ingest.figshare.retries=1")
    return load_figshare(cfg)


def test_logging_progress_shows_a_download_bar_or_not(make_cfg, fake_figshare: FakeFigshare, tmp_path, capsys):
    fake_figshare.add_file("shop.csv", CSV)
    shown = _download(make_cfg, fake_figshare, tmp_path, "with_bar", "true")
    bar = capsys.readouterr().err
    hidden = _download(make_cfg, fake_figshare, tmp_path, "without_bar", "false")
    quiet = capsys.readouterr().err
    assert shown.source["from_cache"] is False and hidden.source["from_cache"] is False  # both really downloaded
    assert len(shown.frame) == len(hidden.frame) == 2
    assert "shop.csv: 100%" in bar and f"{len(CSV)}.0/{len(CSV)}.0" in bar  # tqdm: name, percent, bytes
    # No bar at all; a log line may still reach stderr when an earlier stage in this process set up console logging.
    assert "%|" not in quiet and f"{len(CSV)}.0/{len(CSV)}.0" not in quiet


# -- ingest.figshare.* : how hard the connector tries and what it refuses ------------------------------------------

def _figshare_cfg(make_cfg, server: FakeFigshare, cache, *overrides: str):
    return make_cfg(f"paths.cache={cache}", f"ingest.figshare.api_base={server.api_base}",
                    f"ingest.figshare.article_id={server.article_id}", "ingest.figshare.file_name=shop.csv",
                    "ingest.figshare.timeout_s=5", "logging.progress=false", *overrides)


def test_figshare_backoff_s_is_the_wait_before_a_retry(make_cfg, fake_figshare: FakeFigshare, tmp_path, monkeypatch):
    from mmm_meridian.ingest import figshare

    slept: list[float] = []
    monkeypatch.setattr(figshare.time, "sleep", slept.append)
    fake_figshare.add_file("shop.csv", CSV)
    waits = {}
    for backoff in ("0.25", "4"):
        slept.clear()
        fake_figshare.error_requests, fake_figshare.fault_target = 2, "api"  # the listing fails twice, then answers
        loaded = load_figshare(_figshare_cfg(make_cfg, fake_figshare, tmp_path / f"cache_{backoff}",
                                             "ingest.figshare.retries=2", f"ingest.figshare.backoff_s={backoff}"))
        assert len(loaded.frame) == 2
        waits[backoff] = list(slept)
    # Exponential: backoff_s, then 2 x backoff_s.
    assert waits == {"0.25": [0.25, 0.5], "4": [4.0, 8.0]}


def test_figshare_max_bytes_refuses_a_larger_file(make_cfg, fake_figshare: FakeFigshare, tmp_path):
    from mmm_meridian.errors import ConnectorError

    fake_figshare.add_file("shop.csv", CSV)
    small = _figshare_cfg(make_cfg, fake_figshare, tmp_path / "small", f"ingest.figshare.max_bytes={len(CSV) - 1}")
    with pytest.raises(ConnectorError, match=f"figshare file is {len(CSV)} bytes, above the limit "
                                             f"max_bytes={len(CSV) - 1}"):
        load_figshare(small)
    assert fake_figshare.count("/bytes/") == 0  # refused from the listing, nothing downloaded
    enough = load_figshare(_figshare_cfg(make_cfg, fake_figshare, tmp_path / "enough",
                                         f"ingest.figshare.max_bytes={len(CSV)}"))
    assert enough.frame["revenue"].tolist() == [10, 12]
    assert fake_figshare.count("/bytes/") == 1


def test_figshare_max_redirects_caps_the_redirects_followed(make_cfg, fake_figshare: FakeFigshare, tmp_path):
    from mmm_meridian.errors import ConnectorError

    fake_figshare.add_file("shop.csv", CSV)  # the download URL redirects once (/ndownloader -> /bytes)
    with pytest.raises(ConnectorError, match=r"more than 0 redirects \(redirect loop\?\)"):
        load_figshare(_figshare_cfg(make_cfg, fake_figshare, tmp_path / "none", "ingest.figshare.max_redirects=0"))
    assert fake_figshare.count("/bytes/") == 0
    one = load_figshare(_figshare_cfg(make_cfg, fake_figshare, tmp_path / "one", "ingest.figshare.max_redirects=1"))
    assert one.frame["revenue"].tolist() == [10, 12]
    assert fake_figshare.count("/bytes/") == 1


# -- ingest.local_csv.decimal / sheet ------------------------------------------------------------------------------

def test_local_csv_decimal_reads_a_decimal_comma_as_numbers_or_not(make_cfg, tmp_path):
    from mmm_meridian.ingest.connectors import load_local_csv

    path = tmp_path / "shop.csv"
    path.write_text("date_day;revenue\n2024-01-01;1234,5\n2024-01-08;12,25\n", encoding="utf-8")
    comma = load_local_csv(make_cfg(f"ingest.local_csv.path={path}", "ingest.local_csv.decimal=','"))
    dot = load_local_csv(make_cfg(f"ingest.local_csv.path={path}", "ingest.local_csv.decimal='.'"))
    assert comma.frame["revenue"].tolist() == [1234.5, 12.25]
    assert dot.frame["revenue"].tolist() == ["1234,5", "12,25"]  # left as text (standardize then names the key)


def test_local_csv_sheet_picks_the_excel_sheet_read(make_cfg, tmp_path):
    import pandas as pd

    from mmm_meridian.ingest.connectors import load_local_csv

    path = tmp_path / "shop.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"date_day": ["2024-01-01"], "revenue": [1.0]}).to_excel(book, sheet_name="notes", index=False)
        pd.DataFrame({"date_day": ["2024-01-01", "2024-01-08"], "revenue": [10.0, 12.0]}).to_excel(
            book, sheet_name="weekly", index=False)
    first = load_local_csv(make_cfg(f"ingest.local_csv.path={path}", "ingest.local_csv.sheet=null"))
    weekly = load_local_csv(make_cfg(f"ingest.local_csv.path={path}", "ingest.local_csv.sheet=weekly"))
    assert first.frame["revenue"].tolist() == [1.0]  # null: the first sheet
    assert weekly.frame["revenue"].tolist() == [10.0, 12.0]

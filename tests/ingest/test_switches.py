"""``logging.progress``: the figshare connector shows a download progress bar, or stays silent."""

from __future__ import annotations

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
    assert quiet == ""

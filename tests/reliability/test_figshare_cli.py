"""The figshare connector through the real ``mmm ingest`` command, against the local fake figshare server.

The connector's own behaviour (retries, timeouts, redirects, size caps, cache names) is covered in
``tests/ingest/test_figshare.py`` and its use by the ingest stage in ``tests/ingest/test_ingest_stage.py``; here the
whole command path: fallback to the next connector, and a failure that leaves neither artifacts nor a partial
download.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.ingest import fake_figshare as _fake
from tests.ingest.fake_figshare import FakeFigshare
from tests.reliability.corpus import base_frame
from tests.reliability.helpers import artifacts, assert_no_artifacts_from, assert_refused, describe, run_mmm

fake_figshare = _fake.fake_figshare  # the fixture (an assignment, so linters do not flag the parameter names)


def _figshare(server: FakeFigshare, *priority: str) -> list[str]:
    return [f"ingest.connector_priority=[{','.join(priority)}]", f"ingest.figshare.api_base={server.api_base}",
            "ingest.figshare.timeout_s=5", "ingest.figshare.retries=0"]


def test_article_404_falls_back_to_the_demo(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.article_404 = True
    proc = run_mmm("ingest", tmp_path, None, *_figshare(fake_figshare, "figshare", "demo"))
    assert proc.returncode == 0, describe(proc)
    assert "connector figshare failed" in proc.stderr and "trying the next connector" in proc.stderr
    summary = json.loads((artifacts(tmp_path) / "ingest" / "ingest_summary.json").read_text())
    assert summary["connector"] == "demo"
    assert [(a["connector"], a["status"]) for a in summary["attempts"]] == [("figshare", "failed"), ("demo", "ok")]
    assert str(fake_figshare.article_id) in summary["attempts"][0]["reason"]
    assert fake_figshare.count("/v2/articles/") == 1  # a 404 is final: no retries


def test_corrupt_download_is_refused_and_nothing_is_kept(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    content = base_frame().to_csv(index=False, date_format="%Y-%m-%d").encode()
    fake_figshare.add_file("conjura_mmm_data.csv", content, listed_md5="0" * 32)
    proc = run_mmm("ingest", tmp_path, None, *_figshare(fake_figshare, "figshare"))
    assert_refused(proc, [["md5"], ["fails verification"]])
    assert_no_artifacts_from(tmp_path, "ingest")
    assert [p for p in (tmp_path / ".mmm_cache").rglob("*") if p.is_file()] == []  # no partial or bad file kept


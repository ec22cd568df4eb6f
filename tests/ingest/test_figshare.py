"""Tests of the figshare connector against the local fake server (no real network)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import socket
from pathlib import Path

import pytest

from mmm_meridian.errors import ConnectorError
from mmm_meridian.ingest.figshare import FetchResult, FigshareSettings, fetch_figshare_file, safe_file_name
from tests.ingest import fake_figshare as _fake
from tests.ingest.fake_figshare import FakeFigshare

fake_figshare = _fake.fake_figshare  # the fixture (an assignment, so linters do not flag the parameter names)

CSV = b"date,revenue,spend\n" + b"".join(f"2024-01-{d:02d},{d * 100},{d * 7}\n".encode() for d in range(1, 29))


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _free_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v2"  # nothing listens there once the socket is closed


def test_defaults_point_at_the_real_dataset() -> None:
    s = FigshareSettings()
    assert (s.article_id, s.file_name, s.api_base) == (25314841, "conjura_mmm_data.csv", "https://api.figshare.com/v2")


def test_happy_path_then_cache(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    f = fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.add_file("readme.txt", b"hello")
    settings = fake_figshare.settings()

    first = fetch_figshare_file(settings, tmp_path, progress=True)
    assert isinstance(first, FetchResult)
    assert first.path.read_bytes() == CSV
    assert first.md5 == hashlib.md5(CSV).hexdigest() == f.md5
    assert (first.file_id, first.size, first.from_cache) == (f.id, len(CSV), False)
    assert first.url.endswith(f"/ndownloader/files/{f.id}")
    assert first.path == tmp_path / "figshare" / str(settings.article_id) / str(f.id) / "conjura_mmm_data.csv"
    sidecar = json.loads(first.path.with_name(first.path.name + ".meta.json").read_text())
    assert sidecar["md5"] == f.md5 and sidecar["size"] == len(CSV) and sidecar["url"] == first.url
    assert fake_figshare.count("/bytes/") == 1
    assert not [p for p in _all_files(tmp_path) if p.name.endswith(".part")]

    # Second call: the listing is checked (1 small request) but nothing is downloaded.
    before = fake_figshare.request_count
    second = fetch_figshare_file(settings, tmp_path)
    assert second.from_cache and second.path == first.path and second.md5 == first.md5
    assert fake_figshare.requests[before:] == [f"/v2/articles/{settings.article_id}/files"]

    # Offline: zero requests at all.
    before = fake_figshare.request_count
    third = fetch_figshare_file(dataclasses.replace(settings, offline=True), tmp_path)
    assert third.from_cache and third.path.read_bytes() == CSV
    assert fake_figshare.request_count == before


def test_api_down_uses_verified_cache(
    fake_figshare: FakeFigshare, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fetch_figshare_file(fake_figshare.settings(), tmp_path)

    down = fake_figshare.settings(api_base=_free_port_url(), retries=1)
    with caplog.at_level(logging.WARNING, logger="mmm_meridian.ingest.figshare"):
        result = fetch_figshare_file(down, tmp_path)
    assert result.from_cache and result.path.read_bytes() == CSV
    assert "unreachable" in caplog.text and "cached copy" in caplog.text


def test_api_5xx_forever_falls_back_to_cache(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fetch_figshare_file(fake_figshare.settings(), tmp_path)
    fake_figshare.error_requests = 100
    assert fetch_figshare_file(fake_figshare.settings(retries=1), tmp_path).from_cache


def test_api_down_and_corrupted_cache_is_an_error(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    path = fetch_figshare_file(fake_figshare.settings(), tmp_path).path
    path.write_bytes(CSV + b"tampered\n")
    with pytest.raises(ConnectorError, match="failed after 1 attempt"):
        fetch_figshare_file(fake_figshare.settings(api_base=_free_port_url(), retries=0), tmp_path)


def test_offline_without_cache_fails_clearly(tmp_path: Path) -> None:
    settings = FigshareSettings(offline=True, api_base="http://127.0.0.1:9/v2")
    with pytest.raises(ConnectorError, match="offline mode") as info:
        fetch_figshare_file(settings, tmp_path)
    assert "offline: false" in str(info.value) and str(tmp_path) in str(info.value)


def test_md5_mismatch_leaves_nothing_behind(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV, listed_md5="0" * 32)
    with pytest.raises(ConnectorError, match="fails verification") as info:
        fetch_figshare_file(fake_figshare.settings(), tmp_path)
    assert "0" * 32 in str(info.value)
    assert _all_files(tmp_path) == []
    assert fake_figshare.count("/bytes/") == 2  # one retry on mismatch, no storm


def test_supplied_md5_is_the_fallback(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    f = fake_figshare.add_file("conjura_mmm_data.csv", CSV, listed_md5="", supplied_md5="1" * 32)
    with pytest.raises(ConnectorError, match="fails verification"):
        fetch_figshare_file(fake_figshare.settings(), tmp_path)
    f.supplied_md5 = f.md5
    assert fetch_figshare_file(fake_figshare.settings(), tmp_path).md5 == f.md5


def test_timeout_then_success(fake_figshare: FakeFigshare, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.slow_requests, fake_figshare.slow_s = 1, 0.6
    with caplog.at_level(logging.WARNING, logger="mmm_meridian.ingest.figshare"):
        result = fetch_figshare_file(fake_figshare.settings(timeout_s=0.2), tmp_path)
    assert result.path.read_bytes() == CSV
    assert "attempt 1/3 failed" in caplog.text and "timeout" in caplog.text


def test_download_timeout_then_success(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.fault_target = "download"
    fake_figshare.slow_requests, fake_figshare.slow_s = 1, 0.6
    assert fetch_figshare_file(fake_figshare.settings(timeout_s=0.2), tmp_path).path.read_bytes() == CSV
    assert not [p for p in _all_files(tmp_path) if p.name.endswith(".part")]


def test_500_then_success(fake_figshare: FakeFigshare, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.error_requests = 2
    with caplog.at_level(logging.WARNING, logger="mmm_meridian.ingest.figshare"):
        result = fetch_figshare_file(fake_figshare.settings(retries=2), tmp_path)
    assert result.path.read_bytes() == CSV
    assert caplog.text.count("HTTP 500") == 2


def test_429_honours_small_retry_after(
    fake_figshare: FakeFigshare, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.error_requests, fake_figshare.error_status, fake_figshare.retry_after = 1, 429, "0"
    with caplog.at_level(logging.WARNING, logger="mmm_meridian.ingest.figshare"):
        assert fetch_figshare_file(fake_figshare.settings(), tmp_path).path.read_bytes() == CSV
    assert "HTTP 429" in caplog.text


def test_500_forever_gives_up(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.fault_target, fake_figshare.error_requests = "download", 100
    with pytest.raises(ConnectorError, match="failed after 3 attempt"):
        fetch_figshare_file(fake_figshare.settings(retries=2), tmp_path)
    assert fake_figshare.count("/ndownloader/") == 3
    assert _all_files(tmp_path) == []


def test_article_404_is_immediate(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.article_404 = True
    with pytest.raises(ConnectorError, match="404") as info:
        fetch_figshare_file(fake_figshare.settings(retries=3), tmp_path)
    assert fake_figshare.request_count == 1
    assert f"/articles/{fake_figshare.article_id}/files" in str(info.value)
    assert "article_id" in str(info.value) and "file_name" in str(info.value)


def test_file_404_is_immediate(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    f = fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.file_404 = True
    with pytest.raises(ConnectorError, match="404") as info:
        fetch_figshare_file(fake_figshare.settings(retries=3), tmp_path)
    assert fake_figshare.count("/ndownloader/") == 1
    assert f"/ndownloader/files/{f.id}" in str(info.value)
    assert _all_files(tmp_path) == []


def test_redirect_loop(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.redirect_loop = True
    with pytest.raises(ConnectorError, match="redirects"):
        fetch_figshare_file(fake_figshare.settings(max_redirects=3), tmp_path)
    assert fake_figshare.count("/ndownloader/") + fake_figshare.count("/loop/") == 4  # 1 + 3 redirects followed
    assert _all_files(tmp_path) == []


def test_listed_size_too_large_is_refused_before_download(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    with pytest.raises(ConnectorError, match="max_bytes"):
        fetch_figshare_file(fake_figshare.settings(max_bytes=100), tmp_path)
    assert fake_figshare.count("/ndownloader/") == 0
    assert _all_files(tmp_path) == []


@pytest.mark.parametrize("content_length", [True, False])
def test_stream_larger_than_listed_is_aborted(
    fake_figshare: FakeFigshare, tmp_path: Path, content_length: bool
) -> None:
    big = CSV * 200
    fake_figshare.add_file("conjura_mmm_data.csv", big, listed_size=len(CSV), send_content_length=content_length)
    with pytest.raises(ConnectorError, match="bytes"):
        fetch_figshare_file(fake_figshare.settings(max_bytes=len(CSV) * 2), tmp_path)
    assert fake_figshare.count("/bytes/") == 1  # no retry
    assert _all_files(tmp_path) == []


def test_malicious_name_stays_inside_cache(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    f = fake_figshare.add_file("../../evil.csv", CSV)
    result = fetch_figshare_file(fake_figshare.settings(file_name="../../evil.csv"), cache)
    assert result.path.resolve().is_relative_to(cache.resolve())
    assert result.path.name == "evil.csv" and result.path.parent.name == str(f.id)
    assert not (tmp_path / "evil.csv").exists() and not (tmp_path.parent / "evil.csv").exists()
    assert all(p.resolve().is_relative_to(cache.resolve()) for p in _all_files(tmp_path))


@pytest.mark.parametrize("name", ["..", ".", "a\x00b.csv", "dir/", "/"])
def test_unusable_names_are_refused(fake_figshare: FakeFigshare, tmp_path: Path, name: str) -> None:
    fake_figshare.add_file(name, CSV)
    with pytest.raises(ConnectorError, match="unsafe file name"):
        fetch_figshare_file(fake_figshare.settings(file_name=name), tmp_path / "cache")
    assert _all_files(tmp_path) == []


def test_safe_file_name() -> None:
    assert safe_file_name("../../evil.csv") == "evil.csv"
    assert safe_file_name("..\\..\\evil.csv") == "evil.csv"
    assert safe_file_name("/etc/passwd") == "passwd"
    assert safe_file_name("a..b.csv") == "a..b.csv"
    for bad in ("..", "", "x/..", "nul\x00.csv"):
        with pytest.raises(ConnectorError):
            safe_file_name(bad)


def test_unknown_file_name_lists_available(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fake_figshare.add_file("readme.txt", b"hi")
    with pytest.raises(ConnectorError, match="no file named 'missing.csv'") as info:
        fetch_figshare_file(fake_figshare.settings(file_name="missing.csv"), tmp_path)
    assert "'conjura_mmm_data.csv'" in str(info.value) and "'readme.txt'" in str(info.value)
    assert fake_figshare.request_count == 1


def test_link_only_file_is_refused(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    fake_figshare.add_file("conjura_mmm_data.csv", CSV, is_link_only=True)
    with pytest.raises(ConnectorError, match="link"):
        fetch_figshare_file(fake_figshare.settings(), tmp_path)


def test_new_file_version_replaces_cached_copy(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    f = fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    fetch_figshare_file(fake_figshare.settings(), tmp_path)
    f.content = CSV + b"2024-01-29,1,1\n"  # same file id, changed bytes -> listing md5 changes
    result = fetch_figshare_file(fake_figshare.settings(), tmp_path)
    assert not result.from_cache and result.path.read_bytes() == f.content


def test_caller_session_is_used_and_restored(fake_figshare: FakeFigshare, tmp_path: Path) -> None:
    import requests

    fake_figshare.add_file("conjura_mmm_data.csv", CSV)
    with requests.Session() as sess:
        sess.trust_env = False
        fetch_figshare_file(fake_figshare.settings(max_redirects=2), tmp_path, session=sess)
        assert sess.max_redirects == requests.models.DEFAULT_REDIRECT_LIMIT


def test_invalid_settings(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="retries"):
        fetch_figshare_file(FigshareSettings(retries=-1, offline=True), tmp_path)

"""Connector that downloads one file of a public figshare article (API v2, no token) into a local cache.

The cache layout is ``cache_dir/figshare/{article_id}/{file_id}/{safe_name}`` with a JSON sidecar
``{safe_name}.meta.json`` next to it (md5, size, url, ...). A figshare file id never changes content (a new
upload gets a new id), so a cached copy whose md5 matches the listing is reused without downloading.

Online, every call lists the article's files (one small request) so that a changed article is noticed; when the
API cannot be reached, a verified cached copy is used with a warning. ``offline=True`` never touches the network.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

from mmm_meridian.errors import ConnectorError

log = logging.getLogger(__name__)

T = TypeVar("T")

_CHUNK = 1 << 16
_MAX_BACKOFF_S = 60.0  # cap of one exponential backoff wait
_MAX_RETRY_AFTER_S = 60.0  # a server's Retry-After is honoured only up to this many seconds
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
_SIDECAR_SUFFIX = ".meta.json"
_FIX_IDS = "check `article_id` and `file_name` (the article must be public: https://figshare.com/articles/{id})"


@dataclass(frozen=True)
class FigshareSettings:
    """Where the file lives on figshare and how hard to try to fetch it."""

    article_id: int = 25314841
    file_name: str = "conjura_mmm_data.csv"
    api_base: str = "https://api.figshare.com/v2"
    timeout_s: float = 30.0
    retries: int = 3  # attempts after the first, for timeouts / connection errors / 5xx / 429
    backoff_s: float = 1.0  # exponential: backoff_s * 2**attempt, capped
    max_bytes: int = 2_000_000_000  # refuse listings above it; abort a stream that exceeds it
    max_redirects: int = 5
    offline: bool = False  # use the cache only


@dataclass(frozen=True)
class FetchResult:
    """The local copy of the figshare file."""

    path: Path
    file_id: int
    md5: str
    size: int
    from_cache: bool
    url: str


class FigshareUnreachableError(ConnectorError):
    """figshare could not be reached (timeouts / connection errors / 5xx / 429 on every attempt)."""


class _Retryable(Exception):
    """A transient failure (timeout, connection error, 5xx, 429) worth another attempt."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Md5Mismatch(Exception):
    def __init__(self, expected: str, actual: str, size: int) -> None:
        super().__init__(f"md5 {actual} != expected {expected}")
        self.expected = expected
        self.actual = actual
        self.size = size


# --------------------------------------------------------------------------------------------------- public


def fetch_figshare_file(
    settings: FigshareSettings,
    cache_dir: Path,
    *,
    progress: bool = False,
    session: requests.Session | None = None,
) -> FetchResult:
    """Return a verified local copy of ``settings.file_name`` from figshare article ``settings.article_id``.

    Raises:
        ConnectorError: the file cannot be delivered (not found, too large, corrupt, network down without a
            cached copy, ...); the message says what, where and how to fix it.
    """
    _validate_settings(settings)
    cache_dir = Path(cache_dir)
    article_dir = cache_dir / "figshare" / str(int(settings.article_id))

    if settings.offline:
        cached = _find_verified_cache(article_dir, settings.file_name)
        if cached is None:
            raise ConnectorError(
                f"offline mode: no verified cached copy of figshare file {settings.file_name!r} "
                f"(article {settings.article_id})",
                where=str(article_dir),
                fix="run once with `offline: false` and network access to fill the cache, "
                "or check `file_name` / `article_id` / the cache directory",
            )
        log.info("figshare: offline, using cached %s", cached.path)
        return cached

    own_session = session is None
    sess = session if session is not None else requests.Session()
    old_max_redirects = sess.max_redirects
    sess.max_redirects = settings.max_redirects
    try:
        try:
            files = _list_files(sess, settings)
        except FigshareUnreachableError as exc:
            cached = _find_verified_cache(article_dir, settings.file_name)
            if cached is None:
                raise
            log.warning("figshare: API unreachable (%s); using verified cached copy %s", exc.what, cached.path)
            return cached
        entry = _select_file(files, settings)
        return _fetch_entry(sess, settings, entry, cache_dir, article_dir, progress=progress)
    finally:
        sess.max_redirects = old_max_redirects
        if own_session:
            sess.close()


def _validate_settings(s: FigshareSettings) -> None:
    problems = []
    if isinstance(s.article_id, bool) or not isinstance(s.article_id, int) or s.article_id <= 0:
        problems.append(f"article_id must be a positive integer, got {s.article_id!r}")
    if not isinstance(s.file_name, str) or not s.file_name.strip():
        problems.append(f"file_name must be a non-empty string, got {s.file_name!r}")
    if not isinstance(s.api_base, str) or not s.api_base.lower().startswith(("https://", "http://")):
        problems.append(f"api_base must be an http(s) URL, got {s.api_base!r}")
    if not s.timeout_s > 0:
        problems.append(f"timeout_s must be > 0, got {s.timeout_s!r}")
    if not (isinstance(s.retries, int) and s.retries >= 0):
        problems.append(f"retries must be an integer >= 0, got {s.retries!r}")
    if not s.backoff_s >= 0:
        problems.append(f"backoff_s must be >= 0, got {s.backoff_s!r}")
    if not (isinstance(s.max_bytes, int) and s.max_bytes > 0):
        problems.append(f"max_bytes must be a positive integer, got {s.max_bytes!r}")
    if not (isinstance(s.max_redirects, int) and s.max_redirects >= 0):
        problems.append(f"max_redirects must be an integer >= 0, got {s.max_redirects!r}")
    if problems:
        raise ConnectorError(
            "invalid figshare settings: " + "; ".join(problems),
            where="figshare connector settings",
            fix="correct the listed settings in the configuration",
        )


# --------------------------------------------------------------------------------------------------- listing


def _list_files(sess: requests.Session, settings: FigshareSettings) -> list[dict[str, Any]]:
    url = f"{settings.api_base.rstrip('/')}/articles/{int(settings.article_id)}/files"

    def attempt() -> Any:
        resp = _get(sess, url, settings, stream=False, params={"page_size": 1000})
        try:
            _check_status(resp, url, what=f"figshare article {settings.article_id}")
            try:
                return resp.json()
            except ValueError as exc:
                raise ConnectorError(
                    f"figshare answered with something that is not JSON ({resp.headers.get('Content-Type')!r})",
                    where=url,
                    fix="check `api_base` (it should be https://api.figshare.com/v2)",
                ) from exc
        finally:
            resp.close()

    data = _with_retries(attempt, settings, f"listing files of article {settings.article_id}", url)
    if isinstance(data, dict) and isinstance(data.get("files"), list):  # tolerate the /articles/{id} shape
        data = data["files"]
    if not isinstance(data, list) or not all(isinstance(f, dict) for f in data):
        raise ConnectorError(
            "unexpected figshare file listing (expected a JSON list of file objects)",
            where=url,
            fix="check `api_base` (it should be https://api.figshare.com/v2)",
        )
    return data


def _select_file(files: list[dict[str, Any]], settings: FigshareSettings) -> dict[str, Any]:
    matches = [f for f in files if f.get("name") == settings.file_name]
    if not matches:
        names = sorted(str(f.get("name")) for f in files)
        raise ConnectorError(
            f"figshare article {settings.article_id} has no file named {settings.file_name!r}; "
            f"available: {', '.join(repr(n) for n in names) or '(none)'}",
            where=f"{settings.api_base.rstrip('/')}/articles/{settings.article_id}/files",
            fix="set `file_name` to one of the available names, or check `article_id`",
        )
    entry = matches[0]
    where = f"figshare article {settings.article_id}, file {settings.file_name!r}"
    if entry.get("is_link_only"):
        raise ConnectorError(
            "the figshare file is only a link to an external site, not downloadable bytes",
            where=where,
            fix="download it by hand from the linked site and use a local-file connector instead",
        )
    file_id = entry.get("id")
    if isinstance(file_id, bool) or not isinstance(file_id, int) or file_id <= 0:
        raise ConnectorError(
            f"figshare listing has an invalid file id {file_id!r}",
            where=where,
            fix="retry later; the API answer looks malformed",
        )
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ConnectorError(
            f"figshare listing has an invalid size {size!r}",
            where=where,
            fix="retry later; the API answer looks malformed",
        )
    if size > settings.max_bytes:
        raise ConnectorError(
            f"figshare file is {size} bytes, above the limit max_bytes={settings.max_bytes}",
            where=where,
            fix="raise `max_bytes` if this file is really wanted",
        )
    url = entry.get("download_url")
    if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
        raise ConnectorError(
            f"figshare listing has an unusable download_url {url!r}",
            where=where,
            fix="retry later; the API answer looks malformed",
        )
    return entry


def _expected_md5(entry: dict[str, Any]) -> str | None:
    for key in ("computed_md5", "supplied_md5"):
        value = entry.get(key)
        if isinstance(value, str) and _MD5_RE.match(value.strip().lower()):
            return value.strip().lower()
    return None


# --------------------------------------------------------------------------------------------------- download


def _fetch_entry(
    sess: requests.Session,
    settings: FigshareSettings,
    entry: dict[str, Any],
    cache_dir: Path,
    article_dir: Path,
    *,
    progress: bool,
) -> FetchResult:
    file_id: int = entry["id"]
    size: int = entry["size"]
    url: str = entry["download_url"]
    expected = _expected_md5(entry)
    safe = safe_file_name(str(entry.get("name", "")))
    dest = _inside(cache_dir, article_dir / str(file_id) / safe)

    cached = _read_verified(dest)
    if cached is not None and cached.size == size and (expected is None or cached.md5 == expected):
        log.info("figshare: cached copy %s matches the listing (md5 %s); no download", dest, cached.md5)
        return cached
    if cached is not None:
        log.info("figshare: cached copy %s is outdated (md5 %s, listing %s); downloading", dest, cached.md5, expected)
    if expected is None:
        log.warning("figshare: listing has no md5 for %s; only the size (%d bytes) can be verified", url, size)

    dest.parent.mkdir(parents=True, exist_ok=True)
    where = f"{url} -> {dest}"
    for md5_attempt in range(2):  # one extra download after an md5 mismatch, no more
        try:
            md5 = _with_retries(
                lambda: _download_once(sess, settings, url, dest, size, expected, progress),
                settings,
                f"downloading {settings.file_name!r}",
                url,
            )
        except _Md5Mismatch as exc:
            if md5_attempt == 0:
                log.warning("figshare: %s: downloaded bytes fail verification (%s); retrying once", url, exc)
                continue
            raise ConnectorError(
                f"downloaded file fails verification twice: got {exc.size} bytes with md5 {exc.actual}, "
                f"expected {size} bytes with md5 {expected}",
                where=where,
                fix="retry later; if it persists the figshare file or its listing is corrupt (report it to figshare)",
            ) from None
        break
    _write_sidecar(
        dest,
        {
            "article_id": int(settings.article_id),
            "file_id": file_id,
            "name": entry.get("name"),
            "safe_name": safe,
            "md5": md5,
            "size": size,
            "url": url,
            "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    log.info("figshare: downloaded %s (%d bytes, md5 %s) to %s", url, size, md5, dest)
    return FetchResult(path=dest, file_id=file_id, md5=md5, size=size, from_cache=False, url=url)


def _download_once(
    sess: requests.Session,
    settings: FigshareSettings,
    url: str,
    dest: Path,
    size: int,
    expected: str | None,
    progress: bool,
) -> str:
    """One streamed download into a temp file next to ``dest``; returns the md5 after ``os.replace``."""
    limit = min(size, settings.max_bytes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name[:40]}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    bar = None
    try:
        with os.fdopen(fd, "wb") as out:
            resp = _get(sess, url, settings, stream=True)
            try:
                _check_status(resp, url, what=f"figshare file {settings.file_name!r}")
                announced = resp.headers.get("Content-Length")
                if announced is not None and announced.isdigit() and int(announced) > limit:
                    raise ConnectorError(
                        f"server announces {announced} bytes, more than the listed size {size} "
                        f"or max_bytes={settings.max_bytes}",
                        where=url,
                        fix="raise `max_bytes` if the file really grew, otherwise retry later",
                    )
                bar = _progress_bar(progress, size, settings.file_name)
                digest = hashlib.md5()
                received = 0
                try:
                    for chunk in resp.iter_content(chunk_size=_CHUNK):
                        if not chunk:
                            continue
                        received += len(chunk)
                        if received > limit:
                            raise ConnectorError(
                                f"download exceeds {limit} bytes (listed size {size}, "
                                f"max_bytes={settings.max_bytes}); aborted",
                                where=url,
                                fix="raise `max_bytes` if the file really grew, otherwise retry later",
                            )
                        digest.update(chunk)
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                    raise _Retryable(f"stream interrupted after {received} bytes: {_short(exc)}") from exc
            finally:
                resp.close()
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if received != size or (expected is not None and actual != expected):
            raise _Md5Mismatch(expected or "(none)", actual, received)
        os.replace(tmp, dest)
        return actual
    finally:
        if bar is not None:
            bar.close()
        tmp.unlink(missing_ok=True)  # no-op after a successful os.replace


def _progress_bar(progress: bool, total: int, name: str) -> Any:
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        log.warning("figshare: progress=True but tqdm is not installed; no progress bar")
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name)


# --------------------------------------------------------------------------------------------------- http helpers


def _get(
    sess: requests.Session,
    url: str,
    settings: FigshareSettings,
    *,
    stream: bool,
    params: dict[str, Any] | None = None,
) -> requests.Response:
    """GET that turns transient failures into ``_Retryable`` and redirect loops into ``ConnectorError``."""
    try:
        resp = sess.get(url, params=params, timeout=settings.timeout_s, stream=stream, allow_redirects=True)
    except requests.TooManyRedirects as exc:
        raise ConnectorError(
            f"more than {settings.max_redirects} redirects (redirect loop?)",
            where=url,
            fix="retry later; raise `max_redirects` only if the server legitimately redirects that often",
        ) from exc
    except requests.Timeout as exc:
        raise _Retryable(f"timeout after {settings.timeout_s}s: {_short(exc)}") from exc
    except requests.ConnectionError as exc:
        raise _Retryable(f"connection error: {_short(exc)}") from exc
    except requests.RequestException as exc:  # invalid URL, schema, ...
        raise ConnectorError(f"request failed: {_short(exc)}", where=url, fix="check `api_base`") from exc
    if resp.status_code == 429 or 500 <= resp.status_code <= 599:
        retry_after = _parse_retry_after(resp.headers.get("Retry-After"))
        reason = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
        resp.close()
        raise _Retryable(reason, retry_after)
    return resp


def _check_status(resp: requests.Response, url: str, *, what: str) -> None:
    if resp.status_code == 404:
        raise ConnectorError(f"{what} not found (HTTP 404)", where=resp.url or url, fix=_FIX_IDS)
    if resp.status_code in (401, 403):
        raise ConnectorError(
            f"{what}: access denied (HTTP {resp.status_code})",
            where=resp.url or url,
            fix=f"the article may be private or embargoed; {_FIX_IDS}",
        )
    if not 200 <= resp.status_code < 300:
        raise ConnectorError(
            f"{what}: unexpected HTTP {resp.status_code} {resp.reason or ''}".rstrip(),
            where=resp.url or url,
            fix=f"retry later; {_FIX_IDS}",
        )


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _with_retries(fn: Callable[[], T], settings: FigshareSettings, what: str, url: str) -> T:
    attempts = settings.retries + 1
    for attempt in range(attempts):
        try:
            return fn()
        except _Retryable as exc:
            if attempt + 1 >= attempts:
                raise FigshareUnreachableError(
                    f"{what} failed after {attempts} attempt(s); last error: {exc.reason}",
                    where=url,
                    fix="check the network connection / proxy, retry later, or raise `retries` / `timeout_s`; "
                    "`offline: true` uses a cached copy",
                ) from exc
            delay = min(settings.backoff_s * (2**attempt), _MAX_BACKOFF_S)
            if exc.retry_after is not None and exc.retry_after <= _MAX_RETRY_AFTER_S:
                delay = max(delay, exc.retry_after)
            log.warning(
                "figshare: %s: attempt %d/%d failed (%s); retrying in %.2fs",
                what,
                attempt + 1,
                attempts,
                exc.reason,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


# --------------------------------------------------------------------------------------------------- cache


def safe_file_name(name: str) -> str:
    """A figshare file name reduced to one harmless path component (its basename); ConnectorError if impossible.

    ``../../evil.csv`` becomes ``evil.csv``; empty names, ``.``/``..``, NUL or control characters, and names that
    are nothing but a directory part are refused.
    """
    base = os.path.basename(str(name).replace("\\", "/"))
    if (
        not base
        or base.strip(".") == ""  # ".", "..", "..."
        or any(ord(c) < 32 or c == "\x7f" for c in base)  # NUL and other control characters
        or os.path.isabs(base)
        or os.sep in base
        or (os.altsep is not None and os.altsep in base)
        or len(base.encode("utf-8", "surrogatepass")) > 200
    ):
        raise ConnectorError(
            f"refusing unsafe file name {name!r} from figshare (empty, '..', NUL/control characters or too long)",
            where="figshare file listing",
            fix="check `article_id`; a legitimate article never has such names",
        )
    if base != name:
        log.warning("figshare: file name %r reduced to %r for the cache", name, base)
    return base


def _inside(cache_dir: Path, path: Path) -> Path:
    root = cache_dir.resolve()
    resolved = path.resolve()
    if resolved == root or root not in resolved.parents:
        raise ConnectorError(
            f"cache path {path} escapes the cache directory",
            where=str(root),
            fix="check `article_id` / the file name; the cache directory must not contain symlinks pointing out",
        )
    return path


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + _SIDECAR_SUFFIX)


def _write_sidecar(dest: Path, meta: dict[str, Any]) -> None:
    side = _sidecar(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[:40]}.", suffix=".meta.part", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2, sort_keys=True)
        os.replace(tmp, side)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_verified(path: Path) -> FetchResult | None:
    """The cached file at ``path`` when its sidecar exists and its md5 and size match the sidecar."""
    side = _sidecar(path)
    if not path.is_file() or not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        md5, size, url, file_id = str(meta["md5"]).lower(), int(meta["size"]), str(meta["url"]), int(meta["file_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("figshare: ignoring unreadable cache sidecar %s (%s)", side, exc)
        return None
    try:
        if path.stat().st_size != size or _file_md5(path) != md5:
            log.warning("figshare: cached copy %s does not match its sidecar md5/size; ignoring it", path)
            return None
    except OSError as exc:
        log.warning("figshare: cannot read cached copy %s (%s)", path, exc)
        return None
    return FetchResult(path=path, file_id=file_id, md5=md5, size=size, from_cache=True, url=url)


def _find_verified_cache(article_dir: Path, file_name: str) -> FetchResult | None:
    """Newest verified cached copy of ``file_name`` under ``article_dir`` (any file id), or None."""
    try:
        safe = safe_file_name(file_name)
    except ConnectorError:
        return None
    if not article_dir.is_dir():
        return None
    found: list[tuple[float, FetchResult]] = []
    for sub in article_dir.iterdir():
        if not sub.is_dir() or not sub.name.isdigit():
            continue
        candidate = sub / safe
        result = _read_verified(candidate)
        if result is not None:
            found.append((_sidecar(candidate).stat().st_mtime, result))
    if not found:
        return None
    return max(found, key=lambda item: item[0])[1]

"""A fake figshare API v2 + ndownloader on 127.0.0.1, for tests that must never touch the real network.

Usage as a context manager::

    with FakeFigshare() as fs:
        fs.add_file("data.csv", b"a,b\\n1,2\\n")
        result = fetch_figshare_file(fs.settings(), tmp_path)

or as the pytest fixture ``fake_figshare`` (import it into the test module or a conftest)::

    from tests.ingest import fake_figshare as _fake
    fake_figshare = _fake.fake_figshare  # an assignment keeps linters quiet about fixture params

Routes:
    GET /v2/articles/{id}             article JSON with a ``files`` list
    GET /v2/articles/{id}/files       the ``files`` list
    GET /ndownloader/files/{file_id}  302 -> /bytes/{file_id}
    GET /bytes/{file_id}              the file's bytes

Faults (attributes, set them per test):
    article_404 / file_404            404 for the article routes / the download routes
    slow_requests, slow_s             the first N matching requests sleep ``slow_s`` before answering
    error_requests, error_status      the first N matching requests answer ``error_status`` (default 500)
    retry_after                       Retry-After header value sent with those error answers
    fault_target                      which requests the slow/error faults hit: "api", "download" or "all"
    redirect_loop                     /ndownloader/files/{id} redirects forever
    per file (add_file): listed md5 / size overrides, is_link_only, send_content_length
Counters: ``requests`` (list of paths, in order), ``request_count``, ``count(prefix)``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest

from mmm_meridian.ingest.figshare import FigshareSettings

DEFAULT_ARTICLE_ID = 25314841


@dataclass
class FakeFile:
    id: int
    name: str
    content: bytes
    listed_md5: str | None = None  # None: the true md5
    listed_size: int | None = None  # None: the true size
    supplied_md5: str = ""
    is_link_only: bool = False
    send_content_length: bool = True
    mimetype: str = "text/csv"

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content).hexdigest()


@dataclass
class FakeFigshare:
    article_id: int = DEFAULT_ARTICLE_ID
    files: list[FakeFile] = field(default_factory=list)
    # faults
    article_404: bool = False
    file_404: bool = False
    slow_requests: int = 0
    slow_s: float = 0.5
    error_requests: int = 0
    error_status: int = 500
    retry_after: str | None = None
    fault_target: str = "all"  # "api" | "download" | "all"
    redirect_loop: bool = False

    def __post_init__(self) -> None:
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._next_id = 1000

    # ------------------------------------------------------------------ set-up helpers

    def add_file(self, name: str, content: bytes, **overrides: Any) -> FakeFile:
        self._next_id += 1
        f = FakeFile(id=overrides.pop("id", self._next_id), name=name, content=content, **overrides)
        self.files.append(f)
        return f

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v2"

    def settings(self, **overrides: Any) -> FigshareSettings:
        """FigshareSettings pointing at this server, with test-friendly timeouts/backoff."""
        base = FigshareSettings(
            article_id=self.article_id,
            file_name=self.files[0].name if self.files else "conjura_mmm_data.csv",
            api_base=self.api_base,
            timeout_s=0.2,
            retries=2,
            backoff_s=0.01,
        )
        return replace(base, **overrides)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for p in self.requests if p.startswith(prefix))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    fake._handle(self)
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    pass  # the client gave up (timeout test); nothing to do

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-figshare", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ request handling

    def _listing(self) -> list[dict[str, Any]]:
        return [
            {
                "id": f.id,
                "name": f.name,
                "size": f.listed_size if f.listed_size is not None else len(f.content),
                "is_link_only": f.is_link_only,
                "download_url": f"{self.base_url}/ndownloader/files/{f.id}",
                "supplied_md5": f.supplied_md5,
                "computed_md5": f.listed_md5 if f.listed_md5 is not None else f.md5,
                "mimetype": f.mimetype,
            }
            for f in self.files
        ]

    def _take_fault(self, kind: str, path: str) -> bool:
        """Consume one slow/error fault for this request when it applies."""
        is_api = path.startswith("/v2/")
        if self.fault_target == "api" and not is_api:
            return False
        if self.fault_target == "download" and is_api:
            return False
        with self._lock:
            left = getattr(self, kind)
            if left > 0:
                setattr(self, kind, left - 1)
                return True
        return False

    def _file(self, file_id: str) -> FakeFile | None:
        return next((f for f in self.files if str(f.id) == file_id), None)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(path)
        if self._take_fault("slow_requests", path):
            time.sleep(self.slow_s)
        if self._take_fault("error_requests", path):
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return _send(h, self.error_status, b'{"message": "fake server error"}', headers=headers)

        if m := re.fullmatch(r"/v2/articles/(\d+)(/files)?/?", path):
            if self.article_404 or int(m.group(1)) != self.article_id:
                return _send(h, 404, b'{"message": "Entity not found: article", "code": "EntityNotFound"}')
            listing = self._listing()
            body: Any = listing if m.group(2) else {"id": self.article_id, "title": "fake", "files": listing}
            return _send(h, 200, json.dumps(body).encode(), content_type="application/json")

        if m := re.fullmatch(r"/ndownloader/files/(\d+)", path):
            if self.file_404 or self._file(m.group(1)) is None:
                return _send(h, 404, b"not found")
            target = f"/loop/{m.group(1)}/1" if self.redirect_loop else f"/bytes/{m.group(1)}"
            return _send(h, 302, b"", headers={"Location": self.base_url + target})

        if m := re.fullmatch(r"/loop/(\d+)/(\d+)", path):
            nxt = 2 if m.group(2) == "1" else 1
            return _send(h, 302, b"", headers={"Location": f"{self.base_url}/loop/{m.group(1)}/{nxt}"})

        if m := re.fullmatch(r"/bytes/(\d+)", path):
            f = self._file(m.group(1))
            if self.file_404 or f is None:
                return _send(h, 404, b"not found")
            return _send(
                h, 200, f.content, content_type="application/octet-stream", content_length=f.send_content_length
            )

        return _send(h, 404, b"no such route")


def _send(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain",
    headers: dict[str, str] | None = None,
    content_length: bool = True,
) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    if content_length:
        h.send_header("Content-Length", str(len(body)))
    h.send_header("Connection", "close")
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    if body:
        h.wfile.write(body)
    h.wfile.flush()
    h.close_connection = True


@pytest.fixture
def fake_figshare(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFigshare]:
    """A started FakeFigshare (no files yet); shut down after the test. Proxies are bypassed for 127.0.0.1."""
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    with FakeFigshare() as server:
        yield server

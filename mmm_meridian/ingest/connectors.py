"""Data connectors, tried in ``ingest.connector_priority`` order: ``figshare``, ``local_csv``, ``demo``.

Each connector returns the table as loaded plus a description of the source and a fingerprint (what makes a re-run
necessary: the file's content, the figshare file's md5, the demo's package version). Adding a connector means
adding a function to :data:`CONNECTORS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian.artifacts import file_sha256
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import ConnectorError, DataError, UserError
from mmm_meridian.ingest.readers import read_table

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    """A table as a connector delivered it."""

    frame: pd.DataFrame
    connector: str
    source: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""


def load_local_csv(cfg: MMMConfig) -> Loaded:
    settings = cfg.ingest.local_csv
    if not settings.path:
        raise ConnectorError("no file configured", where="ingest.local_csv.path",
                             fix="set ingest.local_csv.path=/path/to/data.csv")
    path = Path(settings.path).expanduser()
    frame = read_table(path, delimiter=settings.delimiter, encoding=settings.encoding, sheet=settings.sheet,
                       max_bytes=settings.max_bytes, decimal=settings.decimal)
    return Loaded(frame, "local_csv", {"path": str(path.resolve()), "bytes": path.stat().st_size},
                  fingerprint=file_sha256(path))


def load_figshare(cfg: MMMConfig) -> Loaded:
    from mmm_meridian.ingest.figshare import FigshareSettings, fetch_figshare_file

    s = cfg.ingest.figshare
    settings = FigshareSettings(article_id=s.article_id, file_name=s.file_name, api_base=s.api_base,
                                timeout_s=s.timeout_s, retries=s.retries, backoff_s=s.backoff_s,
                                max_bytes=s.max_bytes, max_redirects=s.max_redirects, offline=s.offline)
    result = fetch_figshare_file(settings, Path(cfg.paths.cache), progress=cfg.logging.progress)
    frame = read_table(result.path, max_bytes=s.max_bytes)
    source = {"article_id": s.article_id, "file_id": result.file_id, "file_name": s.file_name, "md5": result.md5,
              "url": result.url, "from_cache": result.from_cache, "path": str(result.path)}
    return Loaded(frame, "figshare", source, fingerprint=result.md5)


def load_demo(cfg: MMMConfig) -> Loaded:
    from mmm_meridian import __version__
    from mmm_meridian.simulate import load_demo as load_embedded_demo

    if cfg.ingest.demo.dataset != "conjura_like":
        raise ConnectorError(f"unknown demo dataset {cfg.ingest.demo.dataset!r}", where="ingest.demo.dataset",
                             fix="use ingest.demo.dataset=conjura_like")
    demo = load_embedded_demo()
    return Loaded(demo.daily.copy(), "demo", {"dataset": "conjura_like (simulated, embedded)",
                                              "truth": "mmm_meridian/data/demo_truth.json"},
                  fingerprint=f"demo-{__version__}")


CONNECTORS: dict[str, Callable[[MMMConfig], Loaded]] = {
    "figshare": load_figshare,
    "local_csv": load_local_csv,
    "demo": load_demo,
}


def load_with_fallback(cfg: MMMConfig) -> tuple[Loaded, list[dict[str, str]]]:
    """Try each connector in priority order; returns the first success and the failures before it."""
    attempts: list[dict[str, str]] = []
    last: UserError | None = None
    for connector in cfg.ingest.connector_priority:
        name = connector.value
        try:
            loaded = CONNECTORS[name](cfg)
        except (ConnectorError, DataError) as exc:
            log.warning("ingest: connector %s failed: %s%s", name, exc.message,
                        "; trying the next connector" if connector != cfg.ingest.connector_priority[-1] else "")
            attempts.append({"connector": name, "status": "failed", "reason": exc.message})
            last = exc
            continue
        attempts.append({"connector": name, "status": "ok", "rows": str(len(loaded.frame))})
        log.info("ingest: loaded %d rows x %d columns with connector %s", *loaded.frame.shape, name)
        return loaded, attempts
    tried = ", ".join(a["connector"] for a in attempts)
    if len(attempts) == 1 and last is not None:
        raise last
    reasons = " | ".join(f"{a['connector']}: {a['reason']}" for a in attempts)
    raise ConnectorError(f"every connector failed ({tried}): {reasons}", where="ingest.connector_priority",
                         fix="fix the first connector's problem or add a working one to ingest.connector_priority")

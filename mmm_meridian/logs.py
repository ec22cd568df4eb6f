"""Logging set-up from the ``logging`` config section: console plus a log file in the artifacts folder."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mmm_meridian.config.root import MMMConfig

_HANDLER_TAG = "_mmm_meridian_handler"


class _ConsoleHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not the stream it was when logging was set up:
    notebooks and test runners swap ``sys.stderr`` (and close the old one), and a handler holding the old stream would
    fail with "I/O operation on closed file" on every later record."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:  # StreamHandler.__init__ assigns it; the current stderr always wins
        pass


class _LibraryWarningsFilter(logging.Filter):
    """Keep Python warnings raised inside libraries (Meridian, TensorFlow, ArviZ) off the console: they go to the
    log file, and to the console only at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "py.warnings"


def setup_logging(cfg: MMMConfig, *, log_file: Path | None = None) -> Path | None:
    """Apply ``logging.level`` / ``logging.format`` to the package's and Hydra's loggers; returns the log file."""
    level = getattr(logging, cfg.logging.level.value)
    formatter = logging.Formatter(cfg.logging.format)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            handler.close()
    logging.captureWarnings(True)
    console = _ConsoleHandler()
    console.setFormatter(formatter)
    if level != logging.DEBUG:
        console.addFilter(_LibraryWarningsFilter())
    setattr(console, _HANDLER_TAG, True)
    root.addHandler(console)
    if cfg.logging.to_file and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(formatter)
        setattr(file_handler, _HANDLER_TAG, True)
        root.addHandler(file_handler)
    root.setLevel(logging.WARNING)  # third-party libraries stay quiet unless DEBUG
    for name in ("mmm_meridian", "hydra"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("py.warnings").setLevel(logging.WARNING)
    if level == logging.DEBUG:
        root.setLevel(logging.DEBUG)
    return log_file if cfg.logging.to_file else None

"""Artifact folders: one per stage under ``paths.artifacts``, written atomically, described by ``manifest.json``.

A stage writes into a hidden staging folder; only when every file and the manifest are written is the staging folder
renamed into place. A crash or ``kill -9`` at any moment therefore leaves either the previous complete folder or the
new complete folder, never a mix; :meth:`ArtifactStore.recover` tidies what an interrupted swap left behind. A lock
file keeps two ``mmm`` processes from writing into the same artifacts folder at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.errors import MissingArtifactError, UserError

MANIFEST = "manifest.json"
LOCK_FILE = ".mmm.lock"
_STAGING_PREFIX = ".staging-"
_OLD_PREFIX = ".old-"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def json_default(value: Any) -> Any:
    """JSON encoder for numpy / pandas / path values found in reports."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=json_default, allow_nan=True)


class StageWriter:
    """Where a running stage writes its outputs (a staging folder until commit)."""

    def __init__(self, stage: str, staging: Path) -> None:
        self.stage = stage
        self.dir = staging

    def path(self, name: str) -> Path:
        """Absolute path for output ``name`` (may contain sub-folders), refusing names that escape the folder."""
        target = (self.dir / name).resolve()
        if self.dir.resolve() not in target.parents:
            raise ValueError(f"output name {name!r} escapes the stage folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.path(name)
        path.write_text(dumps(obj) + "\n", encoding="utf-8")
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.path(name)
        path.write_text(text, encoding="utf-8")
        return path

    def write_parquet(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.path(name)
        frame.to_parquet(path, index=False)
        return path

    def write_csv(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.path(name)
        frame.to_csv(path, index=False)
        return path

    def outputs(self) -> dict[str, str]:
        """Relative path -> sha256 of every file written so far (the manifest excluded)."""
        found: dict[str, str] = {}
        for path in sorted(self.dir.rglob("*")):
            if path.is_file() and path.name != MANIFEST:
                found[path.relative_to(self.dir).as_posix()] = file_sha256(path)
        return found


@dataclass
class Manifest:
    """What a stage folder holds and how it was made."""

    stage: str
    config_hash: str
    config: dict[str, Any]
    inputs: dict[str, str]
    outputs: dict[str, str]
    versions: dict[str, str]
    timings: dict[str, float]
    created_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}  # type: ignore[attr-defined]
        return cls(**known)

    @property
    def digest(self) -> str:
        """A short fingerprint of the outputs, recorded by downstream stages as their input hash."""
        payload = json.dumps(self.outputs, sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


class ArtifactStore:
    """The artifacts folder of one project: ``root/<stage>/`` plus a lock and hidden staging folders."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def manifest(self, stage: str) -> Manifest | None:
        path = self.stage_dir(stage) / MANIFEST
        if not path.is_file():
            return None
        try:
            return Manifest.read(path)
        except (ValueError, TypeError, KeyError) as exc:
            raise MissingArtifactError(f"the manifest of stage {stage} is unreadable ({exc})", where=str(path),
                                       fix=f"re-run `mmm {stage}`") from exc

    def verify_outputs(self, stage: str, manifest: Manifest) -> None:
        """Refuse a stage folder whose listed files were changed or removed after the stage wrote them."""
        folder = self.stage_dir(stage)
        for name, expected in manifest.outputs.items():
            path = folder / name
            if not path.is_file():
                raise MissingArtifactError(f"{stage}/{name} is missing although {stage}'s manifest lists it",
                                           where=str(path), fix=f"re-run `mmm {stage}`")
            if file_sha256(path) != expected:
                raise MissingArtifactError(f"{stage}/{name} was changed after stage {stage} wrote it",
                                           where=str(path), fix=f"re-run `mmm {stage}` to rebuild it")

    # -- locking -------------------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, timeout_s: float = 0.0) -> Iterator[None]:
        """Hold an exclusive lock on the artifacts folder; wait up to ``timeout_s`` for another process."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_FILE
        handle = open(path, "a+", encoding="utf-8")
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        handle.seek(0)
                        holder = handle.read().strip() or "another process"
                        raise UserError(f"the artifacts folder is in use by {holder}", where=str(self.root),
                                        fix="wait for that run to finish, use another paths.artifacts, or set "
                                        "runtime.lock_timeout_s to wait") from None
                    time.sleep(0.2)
            handle.seek(0)
            handle.truncate()
            handle.write(f"mmm pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
            handle.flush()
            yield
        finally:
            handle.close()  # closing releases the flock

    # -- atomic writes --------------------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish or undo swaps interrupted by a crash; remove abandoned staging folders. Call under the lock."""
        actions: list[str] = []
        if not self.root.is_dir():
            return actions
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(_STAGING_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
                actions.append(f"removed abandoned staging folder {entry.name}")
            elif entry.name.startswith(_OLD_PREFIX):
                stage = entry.name[len(_OLD_PREFIX):].rsplit("-", 1)[0]
                final = self.stage_dir(stage)
                if (final / MANIFEST).is_file():
                    shutil.rmtree(entry, ignore_errors=True)
                    actions.append(f"removed superseded {stage} folder")
                else:
                    if final.exists():
                        shutil.rmtree(final)
                    os.rename(entry, final)
                    actions.append(f"restored previous {stage} artifacts after an interrupted write")
        return actions

    def scratch(self, what: str) -> Path:
        """A new hidden folder for work in progress, e.g. a stage's early work in ``mmm run``: the caller removes
        it; a crash leaves it to :meth:`recover`."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / f"{_STAGING_PREFIX}{what}-{secrets.token_hex(4)}"
        folder.mkdir()
        return folder

    @contextmanager
    def writing(self, stage: str) -> Iterator[StageWriter]:
        """Yield a writer into a staging folder; the caller commits with :meth:`commit`. On error nothing changes."""
        staging = self.scratch(stage)
        writer = StageWriter(stage, staging)
        try:
            yield writer
        finally:
            if staging.exists():  # not committed: discard
                shutil.rmtree(staging, ignore_errors=True)

    def commit(self, writer: StageWriter, manifest: Manifest) -> Path:
        """Write the manifest last, then swap the staging folder into place."""
        manifest.outputs = writer.outputs()
        path = writer.dir / MANIFEST
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(dumps(manifest.__dict__) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        final = self.stage_dir(writer.stage)
        old = self.root / f"{_OLD_PREFIX}{writer.stage}-{secrets.token_hex(4)}"
        if final.exists():
            os.rename(final, old)
        os.rename(writer.dir, final)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final

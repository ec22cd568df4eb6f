"""Two ``mmm`` processes on one artifacts folder: the second refuses with a clear message, or waits when asked."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from mmm_meridian.artifacts import LOCK_FILE, ArtifactStore
from tests.reliability.corpus import base_frame, write_data_config, write_frame
from tests.reliability.helpers import (
    artifacts,
    assert_no_artifacts_from,
    assert_refused,
    cli_env,
    describe,
    mmm_args,
    run_mmm,
)


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    return write_data_config(tmp_path / "conf", write_frame(base_frame(), tmp_path / "data.csv"))


def _holds_lock_file_open(pid: int, lock: Path) -> bool:
    """True once process ``pid`` has opened the lock file (it is inside ArtifactStore.lock, waiting)."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(lock) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # the process is gone or a descriptor closed while we looked
        return False


def test_second_process_is_refused_while_the_folder_is_in_use(tmp_path: Path, conf: Path) -> None:
    store = ArtifactStore(artifacts(tmp_path))
    with store.lock():
        proc = run_mmm("ingest", tmp_path, conf)
    line = assert_refused(proc, [["in use"], [f"mmm pid {os.getpid()}"], ["runtime.lock_timeout_s"]])
    assert str(store.root) in line
    assert_no_artifacts_from(tmp_path, "ingest")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the waiting process")
def test_processes_with_lock_timeout_wait_their_turn(tmp_path: Path, conf: Path) -> None:
    """Both waiting processes run, one after the other, once the holder lets go; the result is one clean folder."""
    store = ArtifactStore(artifacts(tmp_path))
    args = mmm_args("ingest", tmp_path, conf, "runtime.lock_timeout_s=120")
    with store.lock():
        procs = [subprocess.Popen(args, cwd=tmp_path, env=cli_env(), text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(2)]
        deadline = time.monotonic() + 90
        while not all(_holds_lock_file_open(p.pid, store.root / LOCK_FILE) for p in procs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "no process reached the lock"
            time.sleep(0.05)
        time.sleep(0.5)
        assert all(p.poll() is None for p in procs) and not (store.root / "ingest").exists()
        released = time.time()
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    for proc, stdout, stderr in results:
        assert proc.returncode == 0, describe(subprocess.CompletedProcess(args, proc.returncode, stdout, stderr))
    manifest = store.manifest("ingest")
    assert manifest is not None and manifest.timings["started"] >= released
    store.verify_outputs("ingest", manifest)
    assert [p.name for p in store.root.iterdir() if p.name.startswith((".staging-", ".old-"))] == []

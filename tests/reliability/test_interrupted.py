"""A real ``mmm ingest`` killed with SIGKILL mid-stage leaves the previous artifacts intact; a re-run recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from mmm_meridian.artifacts import ArtifactStore, file_sha256
from tests.reliability.corpus import base_frame, write_data_config, write_frame
from tests.reliability.helpers import artifacts, cli_env, describe, mmm_args, run_mmm

COPIES = 40  # ~19 MB: loading it takes long enough to land kills inside the stage


def _big_variant(small: Path, target: Path) -> Path:
    """The small file plus COPIES other brands' rows (filtered out by data.series, but read and hashed)."""
    text = small.read_text(encoding="utf-8")
    header, body = text.split("\n", 1)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
        for k in range(COPIES):
            handle.write(body.replace("brand_a", f"brand_{k:03d}"))
    return target


def _staging(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.name.startswith(".staging-")] if root.is_dir() else []


def _kill_when(args: list[str], cwd: Path, store_root: Path, moment: str, timeout: float = 90) -> bool:
    """Start ``args``; SIGKILL it when a staging folder appears (``staging``) or holds a file (``writing``).

    Returns whether the kill landed inside the stage (False: the process finished first).
    """
    proc = subprocess.Popen(args, cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            staging = _staging(store_root)
            if staging and (moment == "staging" or any(staging[0].iterdir())):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
                return True
            time.sleep(0.001)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_sigkill_mid_stage_keeps_previous_artifacts_and_rerun_recovers(tmp_path: Path) -> None:
    small = write_frame(base_frame(), tmp_path / "small.csv")
    big = _big_variant(small, tmp_path / "big.csv")
    store = ArtifactStore(artifacts(tmp_path))
    first = run_mmm("ingest", tmp_path, write_data_config(tmp_path / "conf", small))
    assert first.returncode == 0, describe(first)
    before = store.manifest("ingest")
    assert before is not None and before.extra["fingerprint"] == file_sha256(small)

    conf_big = write_data_config(tmp_path / "conf_big", big)
    args = mmm_args("ingest", tmp_path, conf_big)
    landed = [_kill_when(args, tmp_path, store.root, moment) for moment in ("staging", "writing", "staging")]
    assert any(landed), "no kill landed inside the stage: the big file loads too fast to test this"

    # Whatever the moment, the ingest folder is one complete run: the previous one byte for byte (or, had a kill
    # come after the commit's rename, the new one), never a mix.
    after = store.manifest("ingest")
    assert after is not None and after.extra["fingerprint"] in (before.extra["fingerprint"], file_sha256(big))
    if after.extra["fingerprint"] == before.extra["fingerprint"]:
        assert after.outputs == before.outputs and after.extra == before.extra
    store.verify_outputs("ingest", after)
    left = _staging(store.root)
    assert left, "a killed stage leaves its staging folder behind"

    # The next run tidies up first (ArtifactStore.recover under the lock), says so, and succeeds.
    rerun = run_mmm("ingest", tmp_path, conf_big)
    assert rerun.returncode == 0, describe(rerun)
    for folder in left:
        assert f"removed abandoned staging folder {folder.name}" in rerun.stderr
    done = store.manifest("ingest")
    assert done is not None and done.extra["fingerprint"] == file_sha256(big)
    store.verify_outputs("ingest", done)
    assert not [p for p in store.root.iterdir() if p.name.startswith((".staging-", ".old-"))]

"""`mmm train` killed with SIGKILL while Meridian samples: upstream artifacts stay intact, no train folder appears,
and a resumed `mmm run` would start at train (every earlier stage is still up to date)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mmm_meridian.api import run
from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.config.loader import to_plain
from mmm_meridian.pipeline import is_up_to_date

UPSTREAM = ["ingest", "validate", "transform", "features"]


def test_sigkill_while_sampling_keeps_upstream_and_resume_starts_at_train(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg()
    run(cfg, UPSTREAM)
    store = ArtifactStore(cfg.paths.artifacts)
    before = {stage: store.manifest(stage).outputs for stage in UPSTREAM}
    args = [sys.executable, "-m", "mmm_meridian", "stage=train", f"paths.root={tmp_path}", "tracking.enabled=false",
            "training=fast", "training.sampler.n_adapt=2000"]  # long enough to be killed mid-sampling
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    log_dir = Path(cfg.paths.logs)
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            logs = list(log_dir.glob("*-train.log"))
            if logs and "sampling" in logs[0].read_text(encoding="utf-8"):
                break
            time.sleep(0.5)
        assert proc.poll() is None, f"train ended before it could be killed: {proc.stderr.read()[-2000:]}"
        time.sleep(8)  # well inside Meridian's sampling (prior draws, compilation, NUTS)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert not store.stage_dir("train").exists()
    assert any(p.name.startswith(".staging-train") for p in store.root.iterdir())  # what the kill left behind
    for stage in UPSTREAM:
        manifest = store.manifest(stage)
        assert manifest.outputs == before[stage]
        store.verify_outputs(stage, manifest)
        assert is_up_to_date(cfg, stage, store, to_plain(cfg)), stage
    assert any("staging" in action for action in store.recover())
    assert not any(p.name.startswith(".staging-") for p in store.root.iterdir())

"""Atomic stage folders, manifests, recovery after an interrupted swap, the lock, and upstream checks."""

from __future__ import annotations

import os
import threading
import time

import pandas as pd
import pytest

from mmm_meridian.artifacts import MANIFEST, ArtifactStore, Manifest
from mmm_meridian.config.loader import to_plain
from mmm_meridian.errors import MissingArtifactError, UserError
from mmm_meridian.pipeline import check_upstream, config_hash, is_up_to_date, run_stage, stage_config


def _manifest(stage: str) -> Manifest:
    return Manifest(stage=stage, config_hash="h", config={}, inputs={}, outputs={}, versions={}, timings={},
                    created_at="now")


def test_commit_is_atomic_and_failed_write_keeps_previous(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.writing("ingest") as writer:
        writer.write_json("a.json", {"v": 1})
        store.commit(writer, _manifest("ingest"))
    first = store.manifest("ingest")
    assert first is not None and list(first.outputs) == ["a.json"]
    with pytest.raises(RuntimeError), store.writing("ingest") as writer:
        writer.write_json("a.json", {"v": 2})
        raise RuntimeError("stage crashed")
    assert (tmp_path / "ingest" / "a.json").read_text().strip().endswith("}")
    assert '"v": 1' in (tmp_path / "ingest" / "a.json").read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".staging")] == []


def test_recover_restores_previous_folder_after_interrupted_swap(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.writing("ingest") as writer:
        writer.write_text("x.txt", "good")
        store.commit(writer, _manifest("ingest"))
    # Simulate a kill between "rename old away" and "rename new into place".
    os.rename(tmp_path / "ingest", tmp_path / ".old-ingest-abcd")
    (tmp_path / ".staging-ingest-1234").mkdir()
    actions = store.recover()
    assert (tmp_path / "ingest" / "x.txt").read_text() == "good"
    assert any("restored" in a for a in actions)
    assert not (tmp_path / ".staging-ingest-1234").exists()


def test_writer_refuses_names_escaping_the_folder(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.writing("ingest") as writer, pytest.raises(ValueError, match="escapes"):
        writer.path("../outside.txt")


def test_verify_outputs_detects_hand_edits(tmp_path):
    store = ArtifactStore(tmp_path)
    with store.writing("ingest") as writer:
        writer.write_parquet("t.parquet", pd.DataFrame({"a": [1, 2]}))
        store.commit(writer, _manifest("ingest"))
    manifest = store.manifest("ingest")
    store.verify_outputs("ingest", manifest)
    pd.DataFrame({"a": [1, 3]}).to_parquet(tmp_path / "ingest" / "t.parquet")
    with pytest.raises(MissingArtifactError, match="ingest/t.parquet was changed after stage ingest wrote it"):
        store.verify_outputs("ingest", manifest)


def test_lock_refuses_a_second_holder_then_allows_after_release(tmp_path):
    store = ArtifactStore(tmp_path)
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with ArtifactStore(tmp_path).lock():
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(5)
    with pytest.raises(UserError, match="in use by mmm pid"):
        with store.lock(timeout_s=0.3):
            pass
    release.set()
    thread.join()
    with store.lock(timeout_s=0):
        assert (tmp_path / ".mmm.lock").exists()


def test_upstream_checks_missing_stale_and_fresh(make_cfg):
    cfg = make_cfg()
    store = ArtifactStore(cfg.paths.artifacts)
    with pytest.raises(MissingArtifactError, match=r"run `mmm ingest` first"):
        check_upstream(cfg, "validate", store, to_plain(cfg))
    run_stage(cfg, "ingest", store)
    assert is_up_to_date(cfg, "ingest", store, to_plain(cfg))
    assert set(check_upstream(cfg, "validate", store, to_plain(cfg))) == {"ingest"}
    other = make_cfg("data.series.territory_name=US")
    with pytest.raises(MissingArtifactError, match=r"changed: data.series.territory_name \('GB' -> 'US'\)"):
        check_upstream(other, "validate", store, to_plain(other))
    assert not is_up_to_date(other, "ingest", store, to_plain(other))


def test_stage_hash_covers_upstream_sections_only(make_cfg):
    base = make_cfg()
    sampler = make_cfg("training.sampler.n_keep=7")
    cleaning = make_cfg("enhanced_cleaning.outliers.winsorize_percentile=95")
    h = lambda c, s: config_hash(stage_config(c, s))  # noqa: E731
    assert h(base, "ingest") == h(sampler, "ingest") == h(cleaning, "ingest")
    assert h(base, "transform") != h(cleaning, "transform")
    assert h(base, "features") != h(cleaning, "features")  # downstream of transform
    assert h(base, "features") == h(sampler, "features")
    assert h(base, "train") != h(sampler, "train")


def test_manifest_records_versions_timings_and_hashes(make_cfg):
    cfg = make_cfg()
    manifest = run_stage(cfg, "ingest")
    on_disk = ArtifactStore(cfg.paths.artifacts).manifest("ingest")
    assert on_disk.config_hash == manifest.config_hash == config_hash(stage_config(cfg, "ingest"))
    assert {"raw.parquet", "weekly.parquet", "ingest_summary.json"} <= set(on_disk.outputs)
    assert "google-meridian" in on_disk.versions and "python" in on_disk.versions
    assert on_disk.timings["seconds"] >= 0
    assert (ArtifactStore(cfg.paths.artifacts).stage_dir("ingest") / MANIFEST).is_file()
    assert time.time() - on_disk.timings["finished"] < 600

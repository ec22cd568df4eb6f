"""The cached fitted-model fixture: keyed on the resolved config and the package's code, built by the real stages."""

from __future__ import annotations

import dataclasses
import json
from importlib import metadata

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore, file_sha256
from mmm_meridian.config.loader import to_plain
from mmm_meridian.pipeline import STAGES, config_hash, is_up_to_date, stage_config
from tests.optimize import fixtures
from tests.optimize.fixtures import PACKAGE, SAMPLER, cache_key, clean_table, fixture_config


@pytest.fixture
def frozen_code(monkeypatch):
    """The package's files as one fixed digest: other sessions may edit them while these tests run."""
    monkeypatch.setattr(fixtures, "code_digest", lambda files=None: "frozen")


def test_cache_key_follows_the_resolved_config_but_not_the_machine(tmp_path, frozen_code):
    key = cache_key(fixture_config(tmp_path / "a"))
    assert cache_key(fixture_config(tmp_path / "elsewhere")) == key  # folders are not part of the key
    assert cache_key() == key  # the default is the fixture's own config
    # Keys the stages read, including those the pipeline's hand-listed sections missed, each give a new key.
    for override in ("training.sampler.n_keep=61", "runtime.chain_batch_size=1", "model.holdout_weeks=6",
                     "validation.coverage_frequency.min_weeks_required=40", "data.controls=[]"):
        assert cache_key(fixture_config(tmp_path / "a", override)) != key, override


def test_portable_config_drops_only_machine_specific_paths(tmp_path):
    cfg = fixture_config(tmp_path)
    plain, portable = to_plain(cfg), fixtures.portable_config(cfg)
    assert "paths" not in portable and "path" not in portable["ingest"]["local_csv"]
    assert "compilation_cache_dir" not in portable["runtime"]
    assert str(tmp_path) not in repr(portable)
    assert str(tmp_path) in repr(plain)  # the paths were there to drop
    del plain["paths"], plain["ingest"]["local_csv"]["path"], plain["runtime"]["compilation_cache_dir"]
    assert portable == plain


def test_cache_key_covers_every_package_source_and_config_file():
    files = set(fixtures.code_files())
    assert set(PACKAGE.rglob("*.py")) <= files
    assert set((PACKAGE / "conf").rglob("*.yaml")) <= files
    # The files the old hand-picked list missed.
    for name in ("config/root.py", "config/loader.py", "models/meridian/runtime.py", "models/diagnostics.py", "train/stage.py",
                 "pipeline.py", "conf/config.yaml", "conf/training/fast.yaml", "conf/data/demo.yaml"):
        assert PACKAGE / name in files, name
    assert any(p.parent.name == "launcher" for p in files)  # conf/hydra/launcher/*.yaml (three levels down)


def test_cache_key_changes_when_a_source_file_changes(tmp_path, monkeypatch):
    code = tmp_path / "pkg" / "models" / "meridian" / "runtime.py"
    conf = tmp_path / "pkg" / "conf" / "training" / "fast.yaml"
    for path, text in ((code, "THREADS = 1\n"), (conf, "n_keep: 60\n")):
        path.parent.mkdir(parents=True)
        path.write_text(text)
    monkeypatch.setattr(fixtures, "code_files", lambda: [code, conf])
    key = cache_key()
    assert cache_key() == key  # deterministic

    code.write_text("THREADS = 2\n")
    assert cache_key() != key
    code.write_text("THREADS = 1\n")
    assert cache_key() == key
    conf.write_text("n_keep: 61\n")
    assert cache_key() != key
    conf.write_text("n_keep: 60\n")
    moved = code.rename(code.with_name("runtime2.py"))  # same bytes under another name
    monkeypatch.setattr(fixtures, "code_files", lambda: [moved, conf])
    assert cache_key() != key


def test_cache_key_changes_with_the_simulation_and_meridian_version(monkeypatch, frozen_code):
    key = cache_key()
    spec = fixtures.SPEC
    monkeypatch.setattr(fixtures, "SPEC", dataclasses.replace(spec, seed=spec.seed + 1))
    assert cache_key() != key
    monkeypatch.setattr(fixtures, "SPEC", dataclasses.replace(spec))
    assert cache_key() == key

    installed = metadata.version
    monkeypatch.setattr(fixtures.metadata, "version",
                        lambda name: "99.0.0" if name == "google-meridian" else installed(name))
    assert fixtures.library_versions()["google-meridian"] == "99.0.0"
    assert cache_key() != key


def test_fixture_is_what_the_stages_write_for_its_config(fitted):
    cfg = fitted.config()
    assert str(fitted.root) == cfg.paths.artifacts
    # Cached under the key of what it was built from (the code may have changed since: other sessions edit it).
    inputs = json.loads((fitted.home / fixtures.KEY_FILE).read_text())
    assert fitted.home.name == fixtures.key_of(inputs) and fitted.root.is_relative_to(fitted.home)
    assert inputs["config"] == json.loads(json.dumps(fixtures.portable_config(cfg)))
    assert inputs["versions"]["google-meridian"] == metadata.version("google-meridian")
    store, plain = ArtifactStore(cfg.paths.artifacts), to_plain(cfg)
    for stage in fixtures.STAGES:
        manifest = store.manifest(stage)
        assert manifest is not None and manifest.stage == stage, stage
        # Every stage is up to date for this config: `run_pipeline` would skip them all, i.e. the folder is exactly
        # what the stages write (manifests, output digests, upstream digests, the ingest source's fingerprint).
        assert is_up_to_date(cfg, stage, store, plain), stage

    train = store.manifest("train")
    assert train.config == stage_config(cfg, "train") and train.config_hash == config_hash(train.config)
    assert train.inputs == {"features": store.manifest("features").digest}
    assert set(STAGES["train"].writes) <= set(train.outputs)
    assert train.versions["google-meridian"] == metadata.version("google-meridian")
    assert {k: v for k, v in train.config["training"]["sampler"].items() if k != "nuts_sampler"} == SAMPLER
    assert set(train.extra["summary"]["roi_mean"]) == {"google_search", "google_display", "google_video"}
    other = fitted.config("training.sampler.n_keep=61")
    assert not is_up_to_date(other, "train", store, to_plain(other))
    assert is_up_to_date(other, "features", store, to_plain(other))  # only train depends on the sampler

    # Ingest read the simulated CSV through the configured connector, and the clean table holds the simulated data.
    ingest = store.manifest("ingest")
    assert ingest.extra["summary"]["connector"] == "local_csv"
    assert ingest.extra["fingerprint"] == file_sha256(fitted.home / fixtures.DATA_FILE)
    clean = pd.read_parquet(fitted.stage_dir("transform") / "clean.parquet").sort_values("time")
    expected = clean_table(fitted.dataset)
    assert clean["time"].tolist() == expected["time"].tolist()
    for column in ("google_search_spend", "google_display_impressions", "google_video_clicks"):
        np.testing.assert_allclose(clean[column], expected[column], rtol=1e-9)
    np.testing.assert_allclose(clean["revenue"], expected["revenue"], rtol=0.05)  # outlier treatment only


def test_a_half_built_folder_is_rebuilt(tmp_path, monkeypatch, frozen_code):
    monkeypatch.setattr(fixtures, "_LOADED", {})
    built = []

    def fake_build(home):
        (home / "truth").mkdir(parents=True)
        fixtures.simulate(fixtures.SPEC).save(home / "truth")
        built.append(home)

    monkeypatch.setattr(fixtures, "build", fake_build)
    crashed = tmp_path / cache_key()
    (crashed / "artifacts").mkdir(parents=True)
    (crashed / "artifacts" / "leftover").write_text("half")
    fixture = fixtures.fitted_fixture(tmp_path)
    assert built == [crashed] and not (crashed / "artifacts" / "leftover").exists()
    assert (crashed / ".complete").is_file() and fixture.home == crashed
    assert fixtures.key_of(json.loads((crashed / fixtures.KEY_FILE).read_text())) == crashed.name
    assert fixtures.fitted_fixture(tmp_path) is fixture  # the same build for the whole session
    fixtures._LOADED.clear()  # a new session
    again = fixtures.fitted_fixture(tmp_path)
    assert len(built) == 1 and again.home == crashed  # complete: reused, not rebuilt

"""Environment profiles (profile=local|docker|k8s): resolved paths, tracking URI and runtime, with and without
MLFLOW_TRACKING_URI in the environment. ``tracking.uri`` null means the local sqlite store that
:func:`mmm_meridian.tracking.tracking_uri` places under ``paths.root``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmm_meridian.config import load_config
from mmm_meridian.config.infra import Device
from mmm_meridian.errors import ConfigError
from mmm_meridian.tracking import tracking_uri

SERVER = "http://mlflow.internal:5000"


@pytest.fixture
def no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.mark.usefixtures("no_tracking_env")
def test_local_is_the_default_and_keeps_everything_under_the_working_dir() -> None:
    cfg = load_config([])
    assert cfg.profile.value == "local"
    assert (cfg.paths.root, cfg.paths.artifacts) == (".", "./artifacts/mmm_demo")
    assert (cfg.paths.cache, cfg.paths.logs) == ("./.mmm_cache", "./artifacts/mmm_demo/logs")
    assert cfg.tracking.uri is None
    assert cfg.runtime.device is Device.auto


def test_local_ignores_the_environment_and_follows_paths_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path
                                                              ) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", SERVER)
    cfg = load_config(["profile=local", f"paths.root={tmp_path}", "project.name=shop"])
    assert cfg.paths.artifacts == f"{tmp_path}/artifacts/shop"
    assert cfg.tracking.uri is None
    assert tracking_uri(cfg) == f"sqlite:///{tmp_path}/mlruns/mlflow.db"  # a test's tmp root keeps its store there
    assert load_config(["profile=local", f"tracking.uri={SERVER}"]).tracking.uri == SERVER


@pytest.mark.parametrize("profile", ["docker", "k8s"])
def test_container_profiles_use_the_volumes_and_a_sqlite_store_without_env(profile: str, no_tracking_env: None,
                                                                           tmp_path: Path) -> None:
    cfg = load_config([f"profile={profile}", "project.name=shop"])
    assert cfg.profile.value == profile
    assert cfg.paths.root == "/artifacts"
    assert cfg.paths.artifacts == "/artifacts/shop"
    assert cfg.paths.logs == "/artifacts/shop/logs"
    assert cfg.tracking.uri is None  # -> the sqlite store on the artifacts volume:
    moved = load_config([f"profile={profile}", f"profiles.{profile}.root={tmp_path}"])
    # k8s Jobs may run at once on one volume: each logs to its own artifacts folder's store (see mmm_meridian.tracking)
    store = "mlruns" if profile == "docker" else "mmm_demo/mlruns"
    assert tracking_uri(moved) == f"sqlite:///{tmp_path}/{store}/mlflow.db"
    # docker keeps the download cache with the data; k8s mounts the data claim read-only, so it caches on /artifacts
    assert cfg.paths.cache == ("/data/.mmm_cache" if profile == "docker" else "/artifacts/.mmm_cache")
    assert getattr(cfg.profiles, profile).data_dir == "/data"


@pytest.mark.parametrize("profile", ["docker", "k8s"])
def test_container_profiles_take_the_tracking_uri_from_the_environment(profile: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", SERVER)
    cfg = load_config([f"profile={profile}"])
    assert cfg.tracking.uri == SERVER
    assert cfg.paths.artifacts == "/artifacts/mmm_demo"  # the environment changes tracking only


def test_only_the_container_profiles_have_a_data_dir_and_it_is_used(no_tracking_env: None) -> None:
    # The local profile never read a data folder (input paths are absolute or relative to the working directory):
    # the key is gone, so setting it is an error rather than a silent no-op.
    with pytest.raises(ConfigError, match="Key 'data_dir' not in 'ProfileSettings'"):
        load_config(["profiles.local.data_dir=./inputs"])
    assert not hasattr(load_config([]).profiles.local, "data_dir")
    # docker keeps its download cache on the data volume, which data_dir names
    assert load_config(["profile=docker", "profiles.docker.data_dir=/mnt/in"]).paths.cache == "/mnt/in/.mmm_cache"


def test_profile_device_and_root_settings_flow_into_runtime_and_paths(no_tracking_env: None) -> None:
    cfg = load_config(["profile=docker", "profiles.docker.device=gpu", "profiles.docker.root=/mnt/out"])
    assert cfg.runtime.device is Device.gpu
    assert (cfg.paths.artifacts, cfg.paths.logs) == ("/mnt/out/mmm_demo", "/mnt/out/mmm_demo/logs")
    # an explicit key still wins over the profile
    assert load_config(["profile=docker", "runtime.device=cpu"]).runtime.device is Device.cpu


def test_k8s_profile_carries_the_job_settings() -> None:
    cfg = load_config(["profile=k8s", "profiles.k8s.resources.gpu=1", "profiles.k8s.resources.memory=24Gi",
                       "profiles.k8s.image=registry.example/mmm:1.2"])
    k8s = cfg.profiles.k8s
    assert (k8s.namespace, k8s.image, k8s.data_claim, k8s.artifacts_claim) == (
        "mmm", "registry.example/mmm:1.2", "mmm-data", "mmm-artifacts")
    assert (k8s.resources.cpu, k8s.resources.memory, k8s.resources.gpu) == ("2", "24Gi", 1)


@pytest.mark.parametrize(("override", "key"), [
    ("profiles.k8s.namespace=Bad_Name", "profiles.k8s.namespace"),
    ("profiles.k8s.resources.memory=lots", "profiles.k8s.resources.memory"),
    ("profiles.k8s.resources.gpu=-1", "profiles.k8s.resources.gpu"),
    ("profiles.k8s.image_pull_policy=Sometimes", "profiles.k8s.image_pull_policy"),
    ("runtime.reconstruction_batch_size=0", "runtime.reconstruction_batch_size"),
])
def test_bad_infrastructure_values_are_clear_config_errors(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(["profile=k8s", override])
    assert key in err.value.one_line() and "fix:" in err.value.one_line()


def test_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="profile"):
        load_config(["profile=cloud"])

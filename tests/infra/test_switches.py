"""Profile settings (``profiles.<name>.*``) set by their dotted config names change where a run writes, where it
tracks, which device it plans for, and what ``scripts/k8s_submit.py`` asks the cluster for."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from mmm_meridian.config import load_config
from mmm_meridian.config.infra import Device
from mmm_meridian.errors import ConfigError
from mmm_meridian.models.meridian import runtime
from mmm_meridian.tracking import tracking_uri

SERVER = "http://mlflow.internal:5000"


def test_profiles_local_root_is_where_artifacts_cache_and_the_tracking_store_live(tmp_path: Path) -> None:
    one = load_config(["profile=local", f"profiles.local.root={tmp_path / 'one'}", "project.name=shop"])
    two = load_config(["profile=local", f"profiles.local.root={tmp_path / 'two'}", "project.name=shop"])
    assert (one.paths.root, one.paths.artifacts, one.paths.cache) == (
        f"{tmp_path}/one", f"{tmp_path}/one/artifacts/shop", f"{tmp_path}/one/.mmm_cache")
    assert (two.paths.root, two.paths.artifacts, two.paths.cache) == (
        f"{tmp_path}/two", f"{tmp_path}/two/artifacts/shop", f"{tmp_path}/two/.mmm_cache")
    assert tracking_uri(one) == f"sqlite:///{tmp_path}/one/mlruns/mlflow.db"
    assert tracking_uri(two) == f"sqlite:///{tmp_path}/two/mlruns/mlflow.db"


def test_profiles_local_tracking_uri_points_tracking_at_a_server_or_the_local_store(tmp_path: Path) -> None:
    server = load_config(["profile=local", f"profiles.local.root={tmp_path}", f"profiles.local.tracking_uri={SERVER}"])
    local = load_config(["profile=local", f"profiles.local.root={tmp_path}", "profiles.local.tracking_uri=null"])
    assert server.tracking.uri == SERVER and tracking_uri(server) == SERVER
    assert local.tracking.uri is None and tracking_uri(local) == f"sqlite:///{tmp_path}/mlruns/mlflow.db"


def test_profiles_local_device_is_the_device_the_runtime_plans_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "detect_gpus", lambda: ["GPU 0: NVIDIA H200 (UUID: GPU-0)"])  # a GPU is visible
    cpu = load_config(["profile=local", "profiles.local.device=cpu"])
    gpu = load_config(["profile=local", "profiles.local.device=gpu"])
    assert (cpu.runtime.device, gpu.runtime.device) == (Device.cpu, Device.gpu)
    cpu_plan, gpu_plan = runtime.plan(cpu.runtime), runtime.plan(gpu.runtime)
    assert (cpu_plan.device, gpu_plan.device) == ("cpu", "gpu")
    assert cpu_plan.env["JAX_PLATFORMS"] == "cpu" and cpu_plan.env["CUDA_VISIBLE_DEVICES"] == "-1"
    assert "JAX_PLATFORMS" not in gpu_plan.env and "CUDA_VISIBLE_DEVICES" not in gpu_plan.env
    # On a machine without a GPU, asking for one stops with the runtime key named.
    monkeypatch.setattr(runtime, "detect_gpus", lambda: [])
    with pytest.raises(ConfigError, match="runtime.device=gpu but no NVIDIA GPU is visible"):
        runtime.plan(load_config(["profile=local", "profiles.local.device=gpu"]).runtime)


def test_profiles_docker_tracking_uri_points_the_container_at_a_server_or_its_volume(tmp_path: Path) -> None:
    server = load_config(["profile=docker", f"profiles.docker.root={tmp_path}",
                          f"profiles.docker.tracking_uri={SERVER}"])
    volume = load_config(["profile=docker", f"profiles.docker.root={tmp_path}", "profiles.docker.tracking_uri=null"])
    assert server.tracking.uri == SERVER and tracking_uri(server) == SERVER
    assert volume.tracking.uri is None and tracking_uri(volume) == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    # The local profile does not read it.
    assert load_config(["profile=local", f"profiles.docker.tracking_uri={SERVER}"]).tracking.uri is None


def _resources(k8s: ModuleType, *overrides: str) -> dict:
    (job,) = k8s.render("ingest", list(overrides), submission="s1")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container["resources"]


def test_profiles_k8s_resources_cpu_is_the_jobs_cpu_request(k8s: ModuleType) -> None:
    assert _resources(k8s, "profiles.k8s.resources.cpu=500m")["requests"] == {"cpu": "500m", "memory": "16Gi"}
    assert _resources(k8s, "profiles.k8s.resources.cpu='4'")["requests"] == {"cpu": "4", "memory": "16Gi"}


def test_profiles_k8s_resources_gpu_resource_names_the_gpu_limit(k8s: ModuleType) -> None:
    nvidia = _resources(k8s, "profiles.k8s.resources.gpu=1", "profiles.k8s.resources.gpu_resource=nvidia.com/gpu")
    amd = _resources(k8s, "profiles.k8s.resources.gpu=2", "profiles.k8s.resources.gpu_resource=amd.com/gpu")
    assert nvidia["limits"] == {"memory": "16Gi", "nvidia.com/gpu": 1}
    assert amd["limits"] == {"memory": "16Gi", "amd.com/gpu": 2}
    # Without a GPU the resource name is not asked for at all.
    assert _resources(k8s, "profiles.k8s.resources.gpu=0",
                      "profiles.k8s.resources.gpu_resource=amd.com/gpu")["limits"] == {"memory": "16Gi"}

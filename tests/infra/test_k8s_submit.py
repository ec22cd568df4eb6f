"""scripts/k8s_submit.py: the rendered Jobs are valid YAML with the right command, resources, image, volumes and
environment; sweeps and fan-outs give one Job per point; submission needs kubectl."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from mmm_meridian.config import load_config
from mmm_meridian.errors import UserError
from mmm_meridian.simulate import load_demo


def _container(job: dict) -> dict:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def test_single_job_renders_to_valid_yaml_with_command_resources_image_and_volumes(k8s: ModuleType,
                                                                                   capsys: pytest.CaptureFixture
                                                                                   ) -> None:
    assert k8s.main(["train", "training=fast", "profiles.k8s.resources.gpu=1", "profiles.k8s.image=reg/mmm:1.0",
                     "profiles.k8s.namespace=team-mmm", "--env", "EXTRA=1"]) == 0
    (job,) = list(yaml.safe_load_all(capsys.readouterr().out))
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["namespace"] == "team-mmm"
    assert job["metadata"]["name"].startswith("mmm-train-") and len(job["metadata"]["name"]) <= 63
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = _container(job)
    assert container["image"] == "reg/mmm:1.0"
    # the image's entrypoint is `python -m mmm_meridian profile=docker`; the args switch to k8s and name the stage
    assert container["args"] == ["profile=k8s", "stage=train", "training=fast", "profiles.k8s.resources.gpu=1",
                                 "profiles.k8s.image=reg/mmm:1.0", "profiles.k8s.namespace=team-mmm"]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "16Gi"},
                                      "limits": {"memory": "16Gi", "nvidia.com/gpu": 1}}
    assert container["env"] == [{"name": "EXTRA", "value": "1"}]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["data"] == {"name": "data", "mountPath": "/data", "readOnly": True}
    assert mounts["artifacts"] == {"name": "artifacts", "mountPath": "/artifacts"}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    assert claims == {"data": "mmm-data", "artifacts": "mmm-artifacts"}
    # unset optional fields are dropped rather than rendered as null
    assert "serviceAccountName" not in pod and "activeDeadlineSeconds" not in job["spec"]


def test_cpu_job_has_no_gpu_limit_and_tracking_uri_comes_from_the_submitting_shell(
        k8s: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    (job,) = k8s.render("ingest", ["profiles.k8s.env_secret=mlflow-creds"])
    container = _container(job)
    assert container["resources"]["limits"] == {"memory": "16Gi"}
    assert container["env"] == [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"}]
    assert container["envFrom"] == [{"secretRef": {"name": "mlflow-creds"}}]


def test_sweep_gives_one_job_per_point_each_with_its_own_artifacts_folder(k8s: ModuleType) -> None:
    jobs = k8s.render("train", ["training=fast", "project.owner=a,b"], submission="s1")
    assert len(jobs) == 2
    args = [_container(job)["args"] for job in jobs]
    assert [a[3] for a in args] == ["project.owner=a", "project.owner=b"]
    folders = [next(x for x in a if x.startswith("paths.artifacts=")) for a in args]
    assert folders == [f"paths.artifacts=/artifacts/mmm_demo/sweeps/k8s-s1/{i}/artifacts" for i in (0, 1)]
    assert all("runtime.upstream_policy=rebuild" in a for a in args)
    names = [job["metadata"]["name"] for job in jobs]
    assert len(set(names)) == 2
    assert {job["metadata"]["labels"]["mmm-meridian/submission"] for job in jobs} == {"k8s-s1"}


def test_fanout_gives_one_job_per_series_in_the_data(k8s: ModuleType) -> None:
    jobs = k8s.render("ingest", ["data.series.organisation_id=brand_a"], fanout=True, keys=["territory_name"])
    daily = load_demo().daily
    expected = sorted(daily.loc[daily["organisation_id"] == "brand_a", "territory_name"].unique())
    found = [next(a for a in _container(job)["args"] if a.startswith("data.series.territory_name="))
             for job in jobs]
    assert found == [f"data.series.territory_name='{t}'" for t in expected]


def test_awkward_override_values_stay_single_arguments(k8s: ModuleType) -> None:
    tricky = "project.description='Q3: \"big\" push, {a: b}'"
    (job,) = k8s.render("ingest", [tricky])
    assert _container(job)["args"][2] == tricky
    assert load_config([tricky]).project.description == 'Q3: "big" push, {a: b}'


def test_bad_overrides_and_stages_fail_before_anything_is_rendered(k8s: ModuleType,
                                                                   capsys: pytest.CaptureFixture) -> None:
    assert k8s.main(["train", "training.no_such_key=1"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert k8s.main(["fit"]) == 2
    assert "unknown stage 'fit'" in capsys.readouterr().err


def test_output_file_and_submit_without_kubectl(k8s: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "jobs.yaml"
    assert k8s.main(["ingest", "project.owner=a,b", "-o", str(out)]) == 0
    assert len(list(yaml.safe_load_all(out.read_text()))) == 2
    monkeypatch.setenv("PATH", str(tmp_path))  # no kubectl here
    with pytest.raises(UserError, match="kubectl"):
        k8s.submit("kind: Job\n")
    assert k8s.main(["ingest", "--submit"]) == 2
    assert "is not on PATH" in capsys.readouterr().err


def test_submit_pipes_the_manifest_to_kubectl_apply(k8s: ModuleType, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/argv\ncat > {tmp_path}/stdin\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")  # the fake kubectl comes first
    manifest = k8s.to_yaml(k8s.render("ingest", []))
    assert k8s.submit(manifest) == 0
    assert (tmp_path / "argv").read_text().split() == ["apply", "-f", "-"]
    assert yaml.safe_load((tmp_path / "stdin").read_text())["kind"] == "Job"


@pytest.mark.parametrize(("override", "where", "expected"), [
    ("profiles.k8s.service_account=mmm-runner", ("pod", "serviceAccountName"), "mmm-runner"),
    ("profiles.k8s.data_claim=shop-data", ("claim", "data"), "shop-data"),
    ("profiles.k8s.artifacts_claim=shop-out", ("claim", "artifacts"), "shop-out"),
    ("profiles.k8s.backoff_limit=2", ("job", "backoffLimit"), 2),
    ("profiles.k8s.ttl_seconds_after_finished=600", ("job", "ttlSecondsAfterFinished"), 600),
    ("profiles.k8s.active_deadline_seconds=7200", ("job", "activeDeadlineSeconds"), 7200),
    ("++profiles.k8s.node_selector.pool=gpu", ("pod", "nodeSelector"), {"pool": "gpu"}),
    ("profiles.k8s.data_dir=/inputs", ("mount", "data"), "/inputs"),
    ("profiles.k8s.root=/out", ("mount", "artifacts"), "/out"),
])
def test_each_k8s_profile_key_reaches_the_job(k8s: ModuleType, capsys: pytest.CaptureFixture, override: str,
                                              where: tuple[str, str], expected: object) -> None:
    def rendered(*overrides: str) -> object:
        assert k8s.main(["train", *overrides]) == 0
        (job,) = list(yaml.safe_load_all(capsys.readouterr().out))
        pod = job["spec"]["template"]["spec"]
        kind, name = where
        if kind == "job":
            return job["spec"].get(name)
        if kind == "pod":
            return pod.get(name)
        if kind == "claim":
            return {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}[name]
        return {m["name"]: m["mountPath"] for m in _container(job)["volumeMounts"]}[name]

    assert rendered(override) == expected
    assert rendered() != expected  # the default renders something else


@pytest.mark.parametrize(("override", "variable", "expected"), [
    ("profiles.k8s.tracking_uri=http://mlflow.team:5000", "MLFLOW_TRACKING_URI", "http://mlflow.team:5000"),
])
def test_k8s_profile_tracking_uri_is_used_when_the_shell_sets_none(override: str, variable: str,
                                                                    expected: str) -> None:
    assert load_config(["profile=k8s", override]).tracking.uri == expected
    assert load_config(["profile=k8s"]).tracking.uri != expected


def test_k8s_profile_device_sets_the_runtime_device() -> None:
    assert load_config(["profile=k8s", "profiles.k8s.device=cpu"]).runtime.device.value == "cpu"
    assert load_config(["profile=k8s", "profiles.k8s.device=gpu"]).runtime.device.value == "gpu"

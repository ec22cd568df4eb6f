"""Ready launcher configs under conf/hydra/launcher: they compose with their plugin (skipped when an optional plugin
is absent) and each documents its use."""

from __future__ import annotations

import importlib.util

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mmm_meridian.config.loader import conf_dir
from mmm_meridian.config.root import register_configs

LAUNCHERS = {  # config name -> (plugin module, launcher class, settings the config must set)
    "joblib_2": ("hydra_plugins.hydra_joblib_launcher", "JoblibLauncher", {"n_jobs": 2, "prefer": "processes"}),
    "ray_local": ("hydra_plugins.hydra_ray_launcher", "RayLauncher",
                  {"ray": {"init": {"address": None}, "remote": {"num_cpus": 2, "max_calls": 1}}}),
    "slurm_cpu": ("hydra_plugins.hydra_submitit_launcher", "SlurmLauncher",
                  {"cpus_per_task": 4, "mem_gb": 16, "gpus_per_node": None}),
    "slurm_gpu": ("hydra_plugins.hydra_submitit_launcher", "SlurmLauncher", {"gpus_per_node": 1, "mem_gb": 32}),
}


def _plugin_present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _launcher(name: str) -> dict:
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
    return OmegaConf.to_container(cfg.hydra.launcher)  # type: ignore[return-value]


def test_every_launcher_config_is_listed_here_and_documents_its_command() -> None:
    files = sorted(p.stem for p in (conf_dir() / "hydra" / "launcher").glob("*.yaml"))
    assert files == sorted(LAUNCHERS)
    for name in files:
        text = (conf_dir() / "hydra" / "launcher" / f"{name}.yaml").read_text()
        assert f"hydra/launcher={name}" in text, f"{name}.yaml should show the command that uses it"


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_launcher_config_composes_with_its_plugin(name: str) -> None:
    module, cls, expected = LAUNCHERS[name]
    if not _plugin_present(module):
        pytest.skip(f"{module} is not installed (optional extra)")
    launcher = _launcher(name)
    assert launcher["_target_"].endswith(f".{cls}")
    for key, value in expected.items():
        assert launcher[key] == value, key


def test_joblib_is_installed_with_the_package() -> None:
    # joblib is a core dependency: `mmm <stage> -m hydra/launcher=joblib_2 ...` must work out of the box
    assert _plugin_present("hydra_plugins.hydra_joblib_launcher")

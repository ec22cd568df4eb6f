"""The `mmm` command and `python -m mmm_meridian`: help, exit codes, one-line errors, resume, multirun."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from mmm_meridian.cli import main


def _mmm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from mmm_meridian.cli import main; sys.exit(main())",
                           *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_stages_and_stage_help_says_reads_writes_config(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for stage in ("ingest", "validate", "transform", "features", "train", "optimize", "evaluate", "report", "run"):
        assert f"  {stage}" in out
    assert main(["ingest", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Reads:" in out and "raw.parquet" in out and "Config:   data, ingest" in out


def test_unknown_stage_and_option_exit_2(capsys):
    assert main(["trian"]) == 2
    assert "unknown stage 'trian'" in capsys.readouterr().err
    assert main(["ingest", "--frobnicate"]) == 2


def test_bad_override_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = _mmm("ingest", "features.adstock.decay=1.5", f"paths.root={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: ingest: features.adstock.decay=1.5 is out of range")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "artifacts").exists()


def test_ingest_then_run_resumes_and_stage_without_upstream_says_what_to_run(tmp_path):
    root = f"paths.root={tmp_path}"
    first = _mmm("ingest", root, "tracking.enabled=false", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    weekly = pd.read_parquet(tmp_path / "artifacts/mmm_demo/ingest/weekly.parquet")
    assert len(weekly) == 156
    again = _mmm("ingest", root, "tracking.enabled=false", "runtime.resume=true", cwd=tmp_path)
    assert again.returncode == 0
    summary = json.loads((tmp_path / "artifacts/mmm_demo/ingest/ingest_summary.json").read_text())
    assert summary["success_criteria"]["min_weeks_covered"] is True
    other = tmp_path / "other"
    missing = _mmm("validate", f"paths.root={other}", "tracking.enabled=false", cwd=tmp_path)
    assert missing.returncode == 2
    assert "run `mmm ingest` first" in missing.stderr or "not implemented yet" in missing.stderr


def test_python_dash_m_spelling(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mmm_meridian", "stage=ingest", f"paths.root={tmp_path}",
                             "tracking.enabled=false"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "artifacts/mmm_demo/ingest/manifest.json").is_file()


def _territory_sweep(tmp_path: Path, sweeps: Path, *overrides: str) -> tuple[Path, pd.DataFrame]:
    """``mmm ingest -m`` over the demo's two territories: the sweep's summary file (under ``sweeps``) and table,
    both jobs finished."""
    result = _mmm("ingest", "-m", f"paths.root={tmp_path}", *overrides, "tracking.enabled=false",
                  "data.series.territory_name=GB,US", cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    summaries = list(sweeps.glob("*/sweep_summary.csv"))
    assert len(summaries) == 1
    table = pd.read_csv(summaries[0])
    assert list(table["status"]) == ["ok", "ok"]
    return summaries[0], table


def test_multirun_sweep_runs_each_job_in_its_own_folder_and_writes_summary(tmp_path):
    summary, table = _territory_sweep(tmp_path, tmp_path / "artifacts/mmm_demo/sweeps")
    assert table["overrides"].str.contains("territory_name=GB").iloc[0]
    assert (table["ingest.weeks"] == 156).all()
    jobs = sorted(p for p in summary.parent.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    for job in jobs:
        assert (job / "artifacts/ingest/weekly.parquet").is_file()


def _dist_version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def test_version_flag_prints_package_meridian_and_hydra_versions(capsys):
    import tomllib

    from mmm_meridian.cli import module_main

    package = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["version"]
    expected = (f"mmm-meridian {package} (google-meridian {_dist_version('google-meridian')}, "
                f"hydra-core {_dist_version('hydra-core')}, Python {sys.version.split()[0]})")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == expected
    assert module_main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == expected


def test_hydra_cfg_job_prints_the_composed_config_and_runs_nothing(tmp_path):
    import yaml

    result = subprocess.run([sys.executable, "-m", "mmm_meridian", "--cfg", "job", "stage=ingest",
                             "data.series.territory_name=US", f"paths.root={tmp_path}"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["stage"] == "ingest"
    assert printed["data"]["series"]["territory_name"] == "US"
    assert printed["paths"]["root"] == str(tmp_path)
    assert "hydra" not in printed  # --cfg job: the job's config only
    assert list(tmp_path.iterdir()) == []  # no artifacts, no Hydra output folder


def test_hydra_cfg_hydra_with_package_and_resolve(capsys, tmp_path):
    import yaml

    assert main(["train", "--cfg", "hydra", "-p", "hydra.launcher", "hydra/launcher=joblib_2"]) == 0
    launcher = yaml.safe_load(capsys.readouterr().out)
    assert launcher["n_jobs"] == 2
    assert launcher["_target_"].endswith("JoblibLauncher")
    assert main(["ingest", "--cfg", "job", "--resolve", "-p", "paths", f"paths.root={tmp_path}"]) == 0
    paths = yaml.safe_load(capsys.readouterr().out)
    assert paths["artifacts"] == f"{tmp_path}/artifacts/mmm_demo"  # interpolation resolved


def test_hydra_info_shows_the_search_path_with_the_config_dir(capsys, tmp_path, monkeypatch):
    import logging

    from mmm_meridian.config.loader import conf_dir

    # As after a run in this process (Hydra's job logging config disables existing loggers; mmm_meridian.logs sets
    # the "hydra" logger to INFO): --info printed nothing then, and this test failed depending on which tests ran
    # before it in the same worker. Both states are put back afterwards.
    monkeypatch.setattr(logging.getLogger("hydra._internal.hydra"), "disabled", True)
    monkeypatch.setattr(logging.getLogger("hydra"), "level", logging.INFO)
    user = tmp_path / "my_conf"
    (user / "data").mkdir(parents=True)
    assert main(["ingest", "--config-dir", str(user), "--info", "searchpath"]) == 0
    out = capsys.readouterr().out
    assert f"file://{conf_dir()}" in out
    assert f"file://{user}" in out
    assert "Defaults List" not in out  # only the topic asked for
    assert logging.getLogger("hydra._internal.hydra").disabled and logging.getLogger("hydra").level == logging.INFO
    assert main(["ingest", "--info", "defaults", "data=nodata"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ingest: invalid configuration: In 'config': Could not find 'data/nodata'")
    assert "Available options in 'data':" in err and " demo " in err
    assert main(["ingest", "--hydra-help"]) == 0
    assert capsys.readouterr().out.startswith(f"Hydra ({_dist_version('hydra-core')})")


def test_hydra_flags_refuse_bad_values_and_invalid_configs_in_one_line(capsys):
    assert main(["ingest", "--cfg", "jobs"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == ("error: ingest: --cfg 'jobs' is not one of job, hydra, all (at command line); "
                                    "fix: use --cfg job for the pipeline's config")
    assert main(["ingest", "--cfg", "job", "features.adstock.decay=1.5"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # a config that would not run is not printed
    assert captured.err.startswith("error: ingest: features.adstock.decay=1.5 is out of range")
    for args, problem in ((["--cfg", "job", "-m", "features.adstock.decay=0.5,0.6"],
                           "--cfg prints and runs nothing; it cannot be combined with -m"),
                          (["--cfg", "job", "--info"], "--cfg and --info cannot be combined; use one of them"),
                          (["--resolve"], "--resolve only goes with --cfg"),
                          (["--info", "--resolve"], "--resolve and --package only go with --cfg, not --info")):
        assert main(["ingest", *args]) == 2
        assert capsys.readouterr().err == f"error: ingest: {problem} (at command line); fix: see `mmm ingest --help`\n"


def test_multirun_with_paths_artifacts_gives_each_job_its_own_subfolder(tmp_path):
    out = tmp_path / "out"
    summary, _ = _territory_sweep(tmp_path, out / "sweeps", f"paths.artifacts={out}")
    jobs = [json.loads((summary.parent / job / "job_result.json").read_text()) for job in ("0", "1")]
    assert [job["artifacts"] for job in jobs] == [str(out / "0"), str(out / "1")]
    assert not (out / "ingest").exists()  # nothing written to the shared folder itself
    weekly = [pd.read_parquet(out / job / "ingest/weekly.parquet") for job in ("0", "1")]
    assert [len(w) for w in weekly] == [156, 156]
    assert not weekly[0].equals(weekly[1])  # GB and US, each in its own folder
    assert list((out / "0" / "logs").glob("*-ingest.log"))  # logs follow the job's folder


def test_sigterm_during_a_sweep_exits_143_and_closes_the_sweep_run_as_failed(tmp_path, monkeypatch, capsys):
    import logging

    from mlflow.tracking import MlflowClient

    from mmm_meridian import app
    from mmm_meridian.cli import Terminated, run_cli
    from mmm_meridian.config.loader import load_config
    from mmm_meridian.tracking import tracking_uri

    def terminated_job(cfg):
        raise Terminated()  # what SIGTERM raises in the main thread while a job runs

    monkeypatch.setattr(app, "run_job", terminated_job)
    root = logging.getLogger()
    handlers = root.handlers[:]
    # The multirun runs in this process and Hydra sets up logging for its jobs, which closed every handler in the
    # process (a notebook's log file; here, pytest's capture): the caller's stay open and in place.
    callers_file = logging.FileHandler(tmp_path / "caller.log")
    logging.getLogger("caller").addHandler(callers_file)
    try:
        status = run_cli("ingest", ["-m", f"paths.root={tmp_path}", "tracking.enabled=true",
                                    "data.series.territory_name=GB,US"])
        assert callers_file.stream is not None and not callers_file.stream.closed
        assert root.handlers == handlers
    finally:
        logging.getLogger("caller").removeHandler(callers_file)
        callers_file.close()
    assert status == 143
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ingest: terminated (SIGTERM);")
    client = MlflowClient(tracking_uri(load_config([f"paths.root={tmp_path}", "tracking.enabled=true"])))
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert [(r.info.run_name, r.info.status) for r in runs] == [("sweep ingest", "KILLED")]

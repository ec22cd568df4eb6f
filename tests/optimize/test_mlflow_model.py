"""The trained model as an MLflow pyfunc: predicts revenue and contributions for spend plans, reloads identically.

It is saved as MLflow "models from code" with the package as code: no pickle, no `mmm-meridian` requirement (no
index serves it), so `mlflow models serve` can rebuild its environment from the registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mmm_meridian.models.meridian.pyfunc import SpendPlanModel, historical_plan, log_spend_plan_model
from tests.optimize.fixtures import REPO


def test_pyfunc_predicts_plans_and_reloads_identically_in_a_fresh_process(fitted, tmp_path):
    local = SpendPlanModel()
    local._load(fitted.model_path)
    plans = pd.concat([historical_plan(local)] * 3, ignore_index=True)
    plans.iloc[1] = plans.iloc[1] * 1.5
    plans.iloc[2, 0] = 0.0  # first channel switched off
    predicted = local.predict(None, plans)
    contributions = [f"{c}_contribution" for c in local.channels]
    # More spend -> more media revenue (concave but increasing); a channel switched off contributes nothing.
    assert predicted.loc[1, "media_revenue"] > predicted.loc[0, "media_revenue"]
    assert predicted.loc[2, contributions[0]] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(predicted[contributions].sum(axis=1), predicted["media_revenue"], rtol=1e-9)
    # The historical plan's contributions are the model's incremental revenue, i.e. train's roi.csv.
    roi = pd.read_csv(fitted.stage_dir("train") / "roi.csv").set_index("channel")
    np.testing.assert_allclose(predicted.loc[0, contributions].to_numpy(),
                               roi.loc[local.channels, "incremental_revenue"].to_numpy(), rtol=1e-3)

    uri = f"sqlite:///{tmp_path}/m.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("pyfunc", artifact_location=(tmp_path / "art").as_uri())
    run = client.create_run(experiment)
    model_uri = log_spend_plan_model(run.info.run_id, uri, fitted.model_path, "demo_spend_model")
    plans.to_csv(tmp_path / "plans.csv", index=False)
    mlflow.set_tracking_uri(uri)
    saved = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(tmp_path / "saved")))
    # Models from code: the entry file runs at load time; nothing is unpickled.
    flavor = yaml.safe_load((saved / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["model_code_path"].endswith("spend_plan_entry.py") and "python_model" not in flavor
    assert (saved / "spend_plan_entry.py").is_file() and not list(saved.rglob("*.pkl"))
    assert (saved / "code" / "mmm_meridian" / "models" / "meridian" / "pyfunc.py").is_file()
    requirements = (saved / "requirements.txt").read_text().split()
    assert not [r for r in requirements if r.lower().startswith(("mmm-meridian", "mmm_meridian"))]
    assert "google-meridian[schema]==2.1.0" in requirements

    # A fresh process loads it from the registry (as `mlflow models serve` would) with pickle loading refused,
    # and imports mmm_meridian from the model's own code folder rather than from an installed distribution.
    code = ("import json, os, sys, mlflow, pandas as pd; os.environ['MLFLOW_ALLOW_PICKLE_DESERIALIZATION'] = 'false'; "
            "mlflow.set_tracking_uri(sys.argv[1]); m = mlflow.pyfunc.load_model(sys.argv[2]); "
            "m.predict(pd.read_csv(sys.argv[3])).to_csv(sys.argv[4], index=False); "
            "print(json.dumps(sys.modules['mmm_meridian'].__file__))")
    done = subprocess.run([sys.executable, "-c", code, uri, "models:/demo_spend_model/1", str(tmp_path / "plans.csv"),
                           str(tmp_path / "out.csv")], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    package_file = Path(json.loads(done.stdout.strip().splitlines()[-1]))
    assert package_file.parent.parent.name == "code" and package_file.name == "__init__.py"
    assert REPO not in package_file.parents
    reloaded = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(reloaded[predicted.columns].to_numpy(), predicted.to_numpy(), rtol=1e-6)
    assert client.get_registered_model("demo_spend_model").name == "demo_spend_model"

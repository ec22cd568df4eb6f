"""The trained model as an MLflow pyfunc: predicts revenue and contributions for spend plans, reloads identically."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mmm_meridian.train.meridian_pyfunc import SpendPlanModel, historical_plan, log_spend_plan_model


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
    code = ("import sys, mlflow, pandas as pd; mlflow.set_tracking_uri(sys.argv[1]); "
            "m = mlflow.pyfunc.load_model(sys.argv[2]); "
            "m.predict(pd.read_csv(sys.argv[3])).to_csv(sys.argv[4], index=False)")
    done = subprocess.run([sys.executable, "-c", code, uri, model_uri, str(tmp_path / "plans.csv"),
                           str(tmp_path / "out.csv")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    reloaded = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(reloaded[predicted.columns].to_numpy(), predicted.to_numpy(), rtol=1e-6)
    mlflow.set_tracking_uri(uri)
    assert client.get_registered_model("demo_spend_model").name == "demo_spend_model"

"""The trained model as an MLflow pyfunc model: predicts revenue and channel contributions for new spend plans.

Input: a DataFrame with one row per spend plan and one column per channel holding the plan's total spend over the
modelled period (the same unit as ``train/roi.csv``'s ``spend``). Each channel's historical weekly pattern is scaled
to that total, as Meridian's optimizer does (a reach-and-frequency channel's reach, at its historical frequency).
Output, per plan: ``revenue`` (posterior-mean expected revenue over the period), ``media_revenue`` and
``<channel>_contribution`` (posterior-mean incremental revenue of each channel).
Predictions are posterior means over every draw, so they are deterministic: the model loaded in a fresh process
predicts exactly what the logging process predicted.

The model is saved as MLflow "models from code" (:mod:`mmm_meridian.models.meridian.spend_plan_entry`, no pickle) with the
``mmm_meridian`` sources in the model's ``code/`` folder, and its requirements pin Meridian and MLflow but not
``mmm-meridian`` (which no package index serves), so ``mlflow models serve -m models:/<name>/<version>`` can build its
environment and load it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
MODEL_ARTIFACT = "meridian_model"


class SpendPlanModel(mlflow.pyfunc.PythonModel):
    """MLflow wrapper around a saved Meridian model (``train/model.binpb``)."""

    def load_context(self, context: Any) -> None:
        self._load(context.artifacts[MODEL_ARTIFACT])

    def _load(self, path: str | Path) -> None:
        os.environ.setdefault("MERIDIAN_BACKEND", "jax")  # read at Meridian's first import in a serving process
        from meridian.analysis import analyzer as meridian_analyzer

        from mmm_meridian.models.meridian import adapter as meridian_adapter
        from mmm_meridian.models.meridian import optimizer as meridian_optimizer

        self.mmm = meridian_adapter.load_model(path)
        self.analyzer = meridian_analyzer.Analyzer(self.mmm)
        self.channels = list(meridian_adapter.channel_names(self.mmm))
        self.historical = meridian_adapter.historical_spend(self.mmm)
        self.paid = meridian_optimizer.PaidMedia(self.mmm)  # R&F channels: reach scaled at their frequency

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        missing = [c for c in self.channels if c not in model_input.columns]
        if missing:
            raise ValueError(f"spend plan lacks channel column(s) {missing}; expected {self.channels}")
        rows = [self._predict_one(model_input.loc[i, self.channels].to_numpy(dtype=np.float64))
                for i in model_input.index]
        return pd.DataFrame(rows, index=model_input.index)

    def _predict_one(self, plan: np.ndarray) -> dict[str, float]:
        if (plan < 0).any() or not np.isfinite(plan).all():
            raise ValueError(f"spend plan must be finite and non-negative, got {plan.tolist()}")
        ratio = np.divide(plan, self.historical, out=np.zeros_like(plan), where=self.historical > 0)

        new_data = self.paid.tensors(ratio)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            incremental = np.asarray(self.analyzer.incremental_outcome(
                use_posterior=True, new_data=new_data, include_non_paid_channels=False), dtype=np.float64)
            expected = np.asarray(self.analyzer.expected_outcome(
                use_posterior=True, new_data=new_data, aggregate_geos=True, aggregate_times=True), dtype=np.float64)
        contributions = incremental.reshape(-1, incremental.shape[-1]).mean(axis=0)
        row = {"revenue": float(expected.mean()), "media_revenue": float(contributions.sum())}
        row.update({f"{c}_contribution": float(v) for c, v in zip(self.channels, contributions, strict=True)})
        return row


def historical_plan(model: SpendPlanModel) -> pd.DataFrame:
    """One spend plan: each channel's historical total spend (the model's own data), as the pyfunc input."""
    return pd.DataFrame([dict(zip(model.channels, model.historical, strict=True))])


# Distributions the serving path imports (Meridian with its backends, the config package that the feature spec
# imports, MLflow), pinned to the versions the model was fitted with. mmm_meridian itself travels as code: no index
# serves it, so pinning it would make `mlflow models serve` fail to build the environment.
_SERVING_DISTRIBUTIONS = ("google-meridian[schema]", "tensorflow", "tfp-nightly[substrates-jax]", "jax", "jaxlib",
                          "numpy", "pandas", "scipy", "hydra-core", "omegaconf", "mlflow")


def serving_requirements() -> list[str]:
    """``name==version`` of every installed distribution the model needs to load and predict."""
    requirements = []
    for spec in _SERVING_DISTRIBUTIONS:
        try:
            requirements.append(f"{spec}=={metadata.version(spec.split('[')[0])}")
        except metadata.PackageNotFoundError:  # e.g. jaxlib under the TensorFlow backend: not needed then
            continue
    return requirements


def _copy_package(target: Path) -> Path:
    """The package's Python sources (no caches, configs or demo data) copied to ``target/mmm_meridian``."""
    import mmm_meridian

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n == "__pycache__" or (Path(folder, n).is_file() and not n.endswith(".py"))}

    return Path(shutil.copytree(Path(mmm_meridian.__file__).parent, target / "mmm_meridian", ignore=ignore))


@contextmanager
def _model_arguments(model_path: Path) -> Iterator[dict[str, Any]]:
    """Keyword arguments of ``mlflow.pyfunc.log_model`` for the Meridian model saved at ``model_path``.

    The model is saved as code (``spend_plan_entry.py``, no pickle) with the package as ``code_paths``; the signature
    and input example come from the historical plan.
    """
    from mlflow.models import infer_signature

    local = SpendPlanModel()
    local._load(model_path)
    example = historical_plan(local)
    signature = infer_signature(example, local.predict(None, example))
    with tempfile.TemporaryDirectory(prefix="mmm-pyfunc-code-") as code:
        # The entry file is passed by path, not imported: importing it here would run its set_model().
        yield {"python_model": str(Path(__file__).resolve().with_name("spend_plan_entry.py")),
               "artifacts": {MODEL_ARTIFACT: str(model_path)}, "code_paths": [str(_copy_package(Path(code)))],
               "signature": signature, "input_example": example, "pip_requirements": serving_requirements()}


def log_spend_plan_model(run_id: str, tracking_uri: str, model_path: Path, registered_name: str | None) -> str:
    """Log ``model_path`` as a pyfunc model in run ``run_id`` (registered when a name is given); returns its URI."""
    mlflow.set_tracking_uri(tracking_uri)
    with _model_arguments(model_path) as arguments, mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name="spend_plan_model", registered_model_name=registered_name, **arguments)
    log.info("tracking: logged the pyfunc spend-plan model %s", info.model_uri)
    return str(info.model_uri)

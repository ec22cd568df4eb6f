"""MLflow "models from code" entry of the spend-plan model: MLflow runs this file to build the model when it loads it.

:func:`mmm_meridian.models.meridian.pyfunc.log_spend_plan_model` logs this file as the model's code (no pickle) and
the ``mmm_meridian`` package beside it (``code_paths``), so a model loaded from the registry imports the package from
the model's own ``code/`` folder and needs no ``mmm-meridian`` distribution installed.
"""

from mlflow.models import set_model

from mmm_meridian.models.meridian.pyfunc import SpendPlanModel

set_model(SpendPlanModel())

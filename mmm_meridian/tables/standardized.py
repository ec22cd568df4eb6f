"""The standardized rows: the user's rows after the series filter, with canonical columns, at the input's grain.

Ingest standardizes the raw table once and writes it as ``ingest/standardized.parquet``; validate checks it and
transform cleans it, reading that artifact rather than standardizing ``ingest/raw.parquet`` again (which keeps the
user's own columns for whoever needs them, e.g. the report's currency label).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from mmm_meridian.errors import MissingArtifactError

if TYPE_CHECKING:
    from mmm_meridian.pipeline import StageContext

FILE = "standardized.parquet"


def read_standardized(ctx: StageContext) -> pd.DataFrame:
    """Ingest's standardized rows, for a stage that declares ingest as an input."""
    path = ctx.input_path("ingest", FILE)
    if not path.is_file():  # ingest artifacts written by a version that did not write it
        raise MissingArtifactError(f"ingest/{FILE} is missing: the ingest artifacts predate it",
                                   where=str(path), fix="re-run `mmm ingest`", stage=ctx.stage)
    return pd.read_parquet(path)

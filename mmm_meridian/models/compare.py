"""A second opinion: two engines' ROI tables side by side (engine-neutral; train writes it, the report shows it).

Two engines fitted on the same model inputs and priors agree when each channel's 90 % ROI intervals overlap. When
they do not, the data cannot pin the channel down and the engines' different assumptions (adstock and saturation
forms, priors on different parameters) decide the answer: the table flags those channels.
"""

from __future__ import annotations

import pandas as pd

FILE = "second_opinion.csv"
FOLDER = "second_opinion"  # train/second_opinion/: the second engine's roi.csv, diagnostics.json and saved model


def compare_roi(main: pd.DataFrame, second: pd.DataFrame, main_engine: str, second_engine: str) -> pd.DataFrame:
    """Per channel: each engine's ROI mean and 90 % interval, whether the intervals overlap, and the ratio of the
    means (second / main).

    Columns: ``channel``, ``<engine>_roi_mean``, ``<engine>_roi_lo_90``, ``<engine>_roi_hi_90`` for both engines,
    ``intervals_overlap`` (bool), ``roi_ratio``. Channels missing from either table are left out.
    """
    keep = ["channel", "roi_mean", "roi_lo_90", "roi_hi_90"]
    left = main[keep].rename(columns={c: f"{main_engine}_{c}" for c in keep[1:]})
    right = second[keep].rename(columns={c: f"{second_engine}_{c}" for c in keep[1:]})
    table = left.merge(right, on="channel", how="inner")
    table["intervals_overlap"] = ((table[f"{main_engine}_roi_lo_90"] <= table[f"{second_engine}_roi_hi_90"])
                                  & (table[f"{second_engine}_roi_lo_90"] <= table[f"{main_engine}_roi_hi_90"]))
    table["roi_ratio"] = table[f"{second_engine}_roi_mean"] / table[f"{main_engine}_roi_mean"]
    return table

"""Seeded simulator of daily eCommerce + paid-media data with a known causal truth, and messy variants of it.

Optionally (all off by default) Meridian's wider vocabulary with its truths: reach-and-frequency channels, organic
media, non-media treatments, a conversions KPI and lift tests (:mod:`mmm_meridian.simulate.causes`), and complete
example datasets written to files (:mod:`mmm_meridian.simulate.example`).
"""

from mmm_meridian.simulate.causes import ExperimentSpec, OrganicTruth, RfChannelTruth, TreatmentTruth
from mmm_meridian.simulate.dataset import (
    SimulatedDataset,
    geometric_adstock,
    hill,
    weekly_from_daily,
)
from mmm_meridian.simulate.demo import DEMO_SEED, demo_spec, load_demo, write_demo_files
from mmm_meridian.simulate.example import DatasetFiles, data_config, example_spec, experiment_window, write_dataset
from mmm_meridian.simulate.messy import DEFECTS, DefectLog, MessyResult, make_messy
from mmm_meridian.simulate.simulator import simulate
from mmm_meridian.simulate.spec import DEFAULT_CHANNELS, ChannelTruth, SimulationSpec

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFECTS",
    "DEMO_SEED",
    "ChannelTruth",
    "DatasetFiles",
    "DefectLog",
    "ExperimentSpec",
    "MessyResult",
    "OrganicTruth",
    "RfChannelTruth",
    "SimulatedDataset",
    "SimulationSpec",
    "TreatmentTruth",
    "data_config",
    "demo_spec",
    "example_spec",
    "experiment_window",
    "geometric_adstock",
    "hill",
    "load_demo",
    "make_messy",
    "simulate",
    "weekly_from_daily",
    "write_dataset",
    "write_demo_files",
]

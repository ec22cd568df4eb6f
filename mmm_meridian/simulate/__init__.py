"""Seeded simulator of daily eCommerce + paid-media data with a known causal truth, and messy variants of it."""

from mmm_meridian.simulate.dataset import (
    SimulatedDataset,
    geometric_adstock,
    hill,
    weekly_from_daily,
)
from mmm_meridian.simulate.demo import DEMO_SEED, demo_spec, load_demo, write_demo_files
from mmm_meridian.simulate.messy import DEFECTS, DefectLog, MessyResult, make_messy
from mmm_meridian.simulate.simulator import simulate
from mmm_meridian.simulate.spec import DEFAULT_CHANNELS, ChannelTruth, SimulationSpec

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFECTS",
    "DEMO_SEED",
    "ChannelTruth",
    "DefectLog",
    "MessyResult",
    "SimulatedDataset",
    "SimulationSpec",
    "demo_spec",
    "geometric_adstock",
    "hill",
    "load_demo",
    "make_messy",
    "simulate",
    "weekly_from_daily",
    "write_demo_files",
]

"""TRANSFORM (guide stage 3): duplicates, missing data and outliers cleaned at the input's grain, every change logged."""

from mmm_meridian.transform.clean import transform

__all__ = ["transform"]

"""EVALUATE stage: accuracy and calibration on held-out periods, backtests, digital and business checks."""

"""FEATURES stage: Meridian model inputs, priors from business knowledge, seasonality and knots."""

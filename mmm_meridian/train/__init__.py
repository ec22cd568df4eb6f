"""TRAIN stage: Meridian fits, convergence diagnostics, rolling splits. Only ``meridian_adapter`` imports Meridian."""

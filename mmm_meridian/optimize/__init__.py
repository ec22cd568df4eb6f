"""OPTIMIZE stage: budget allocation with Meridian's optimizer under business constraints."""

"""Time Meridian's optimisation grid at two grid tolerances on a trained model (the optimize stage's main cost).

    python benchmarks/optimizer_grid.py --model artifacts/mmm_demo/train/model.binpb

Builds the grid the optimize stage shares across scenarios ([0, 0.72 x budget] per channel: the aggressive
scenario's 60 % share of a budget 20 % above the historical one) at gtol 1e-3 (our default) and 1e-4 (Meridian's).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import save  # type: ignore[import-not-found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="train/model.binpb")
    args = parser.parse_args()
    from mmm_meridian.models.meridian import ENGINE

    mmm = ENGINE.load(args.model)
    historical = ENGINE.historical_spend(mmm)
    budget = historical.sum() * 1.2
    rows = []
    for gtol in (1e-3, 1e-4):
        started = time.perf_counter()
        grid = ENGINE.shared_grid(mmm, historical, np.full(len(historical), 0.6 * budget), budget, gtol)
        seconds = time.perf_counter() - started
        rows.append({"gtol": gtol, "seconds": round(seconds, 1), "steps_per_channel": int(grid.spend_grid.shape[0])})
        print(f"gtol={gtol:g}: {seconds:.1f} s, {grid.spend_grid.shape[0]} steps per channel")
    print(f"ratio 1e-4 / 1e-3: {rows[1]['seconds'] / rows[0]['seconds']:.1f}x")
    save("optimizer_grid", {"rows": rows})


if __name__ == "__main__":
    main()

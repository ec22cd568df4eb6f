"""The real Conjura apparel brand (a cut of its weeks): without business knowledge the model's story is impossible,
and the run stops at the plausibility gate with exit 2 and one line naming the channel and the number."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.reliability.helpers import artifacts, assert_refused, run_mmm

REPO = Path(__file__).resolve().parents[2]
CONJURA = REPO.parent / "shared" / "data" / "conjura_figshare" / "prismmmm_apparel_weekly.csv"
CHANNELS = ["google_search", "google_shopping", "google_pmax", "google_display", "google_video", "meta_facebook",
            "meta_instagram", "meta_other"]
SAMPLER = ["training=fast", "training.sampler.n_adapt=100", "training.sampler.n_burnin=25",
           "training.sampler.n_keep=60", "training.sampler.n_prior_draws=0"]


def mapping_only_config(folder: Path, csv: Path) -> Path:
    """The example config's data mapping alone: what a new user writes first (no priors, no events)."""
    lines = ["# @package _global_", "ingest:", "  connector_priority: [local_csv]", "  local_csv:",
             f"    path: {csv}", "data:", "  date_col: date", "  revenue_col: all_revenue", "  channel_map:",
             *[f"    {c}: {c}" for c in CHANNELS], "  keys: []", "  frequency: weekly",
             "optimization:", "  platform_constraints:", "    min_spend_pct: 0.0", "    max_spend_pct: 1.0"]
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "conjura_cut.yaml").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.skipif(not CONJURA.is_file(), reason=f"{CONJURA} not available")
def test_real_brand_without_business_knowledge_stops_at_the_plausibility_gate(tmp_path):
    weeks = pd.read_csv(CONJURA)
    cut = tmp_path / "conjura_cut.csv"
    weeks.iloc[:104].to_csv(cut, index=False)  # the first two years
    conf = mapping_only_config(tmp_path / "conf", cut)
    proc = run_mmm("train", tmp_path, None, "--config-dir", str(conf), "data=conjura_cut", *SAMPLER,
                   "runtime.upstream_policy=rebuild", timeout=600)
    line = assert_refused(proc, [["the fitted model is implausible"], ["meta_facebook drove"]])
    share = float(re.search(r"meta_facebook drove (\d+) % of all revenue", line).group(1))
    assert share > 50
    assert line.startswith("error: train: ") and "train.quarantine" in line
    held = artifacts(tmp_path) / "train.quarantine"
    verdict = json.loads((held / "plausibility.json").read_text())
    assert verdict["passed"] is False
    assert verdict["channel_share"]["meta_facebook"] == pytest.approx(share / 100, abs=0.006)
    assert not (artifacts(tmp_path) / "train").exists()

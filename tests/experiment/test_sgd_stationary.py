"""The engine's SGD chains on u·v's slice against the four stationary laws of experiment.sgd_stationary.

configs/uv_sgd.yaml at η = 0.1, B = 2, σ = θ* = 1, started next to the slice (u, v = 1 + 0.01·N(0, 1)),
256 chains, 500 burn-in steps (the θ relaxation time is 1/(2ηθ*) = 5 steps), 2000 steps observed
every 10: 51 200 observations in 64 chain groups, Rao–Scott Pearson on the 60 θ bins. ``sgd_chain``
is the exact law of the simulated map, so its p-value is U(0, 1) (a fixed seed fails by chance with
probability 1% at the config's 0.01); the other three sat at z = 42–53 with 204 800 observations
(docs/sgd.md), so at a quarter of the sample z ≳ 10 and they are rejected unless the test lost its power.
"""

import numpy as np
import pytest
import yaml

from langevin_ib.experiment import config as config_lib
from langevin_ib.experiment import job, sgd_stationary


@pytest.mark.slow
def test_sgd_chains_follow_the_exact_chain_law(tmp_path):
    raw = yaml.safe_load(open("configs/uv_sgd.yaml"))
    raw["model"].update(init_u=1.0, init_v=1.0, init_noise=0.01)
    raw["run"].update(chains=256, burn_in=500, steps=2000, chunk_steps=50)
    summary = job.run_and_write(config_lib.resolve(raw), tmp_path, progress=False).summary
    assert summary["stationary_law"]["off_slice_fraction"] == 0.0  # |χ| ≤ 0.05 throughout (χ₀ ~ 0.01)
    law = summary["stationary_law"]["hypotheses"]
    assert law["sgd_chain"]["verdict"] == "consistent", law["sgd_chain"]
    for name in ("naive", "geometric", "sgd_diffusion"):
        assert law[name]["verdict"] == "rejected", (name, law[name])
    # density.png draws the four laws: the arrays in histograms.npz rebuild the comparison that was scored
    with np.load(tmp_path / "histograms.npz") as arrays:
        drawn = sgd_stationary.comparisons(summary, dict(arrays))["stationary_law"]
    assert set(drawn.probabilities) == set(law) and drawn.counts.shape == (64, 60, 1)
    assert all(np.isclose(p.sum(), 1, atol=1e-3) for p in drawn.probabilities.values())
    assert (tmp_path / "density.png").is_file()

"""The χ-drift test (experiment.sgd_tests.drift_test) on chains whose dynamics we know.

u·v, fresh data y = x + σε. Statistic: per decile bin b of χ at the window start, z_b = mean residual
per step, tested jointly over the bins by Hotelling's T² on the chains' per-bin residual sums (F on
10 and chains − 10 dof); a hypothesis is rejected when F exceeds its 99 % quantile (the run's
significance 0.01).
- SGD chains (B = 1, η = 0.1, σ = 1, 256 chains × 30 windows of 10 steps): the SGD prediction,
  E[Δχ] = −η²E[g_B²]χ, is accepted and the isotropic-Langevin one at T_eff (−η²(∂L/∂θ)²χ: no
  minibatch term) is rejected.
- Euler–Maruyama chains at T = 0.02 (η = 0.05, 512 chains × 20 windows of 20 steps): the Langevin
  prediction (the EM step's drift) is accepted; the SGD one with B = 1 and σ = 2 (the extra term
  −η²σ²χ/B) is rejected.
- ReLU SGD chains (below): the same on a zoo model whose χ per copy is ½(v_j² − ‖W_j‖²).

Δχ per sample is the mean of 8 one-step draws from the recorded position (sgd_tests.drift_test), so
E[Δχ | θ] is the predicted one-step drift exactly (χ quadratic); the window between boundaries only
spaces the samples.
"""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib import cli, models
from langevin_ib.dynamics import integrators, kernel, replay
from langevin_ib.dynamics.integrators import sgd
from langevin_ib.dynamics.grid import simulate_run
from langevin_ib.dynamics.kernel import RunSizes
from langevin_ib.experiment import sgd_tests
from langevin_ib.models.fields import section
from langevin_ib.predictions import sgd_per_chain



def uv(**cfg):
    spec = models.REGISTRY["uv"]
    return spec.build(section("model", {"init_u": 1.5, "init_v": 0.5, "init_noise": 0.3, **cfg}, spec.FIELDS))


def run(model, integrator, temperature, step_size, chains, windows, window):
    """(the recorded boundary positions, the run's one-step function) of ``chains`` chains."""
    hyperparameters = integrators.Hyperparameters(temperature, step_size, 0.0)
    sizes = RunSizes(chains=chains, steps=windows * window, chunk_steps=window, chain_groups=8)
    result = simulate_run(model, integrator, hyperparameters, sizes, binnings={},
                      chunk_statistics=sgd_tests.chunk_statistics(model), progress=False)
    return result.chunk_statistics["positions"], replay.one_step(integrator, hyperparameters)


def test_sgd_chains_follow_the_sgd_drift_not_langevins():
    model = uv(label_noise=1.0)
    recorded, step = run(model, sgd.build(model, sgd.Settings(1)), 0.0, 0.1, 256, 30, 10)
    out = sgd_tests.drift_test(model, step, kernel.keys(0).noise, recorded, 0.1, 0.0, 0.0, 1, 1.0, 0.05, 0.01)
    assert out["hypotheses"]["sgd"]["statistic"] < out["threshold"]
    assert out["hypotheses"]["langevin"]["statistic"] > out["threshold"]


def test_langevin_chains_follow_the_langevin_drift_not_sgds():
    model = uv(label_noise=2.0)
    recorded, step = run(model, integrators.build("euler_maruyama", model), 0.02, 0.05, 512, 20, 20)
    out = sgd_tests.drift_test(model, step, kernel.keys(0).noise, recorded, 0.05, 0.0, 0.0, 1, 1.0, 0.02, 0.01)
    assert out["hypotheses"]["langevin"]["statistic"] < out["threshold"]
    assert out["hypotheses"]["sgd"]["statistic"] > out["threshold"]


@pytest.mark.slow
def test_relu_sgd_chains_follow_the_sgd_drift_not_langevins():
    """ReLU teacher–student (3 inputs, 4 hidden units, fresh x, B = 8, η = 0.02, relu_sgd's setup made
    small): 128 chains × 11 boundaries 20 steps apart × 4 copies; the Langevin hypothesis at the
    chains' median local T_eff. Its one-step drift has the −η·T_eff·(d − 1) term of isotropic noise
    (d = 3 inputs), which SGD's orbit-orthogonal noise lacks."""
    spec = models.REGISTRY["relu"]
    model = spec.build(section("model", {"inputs": 3, "hidden": 4, "teacher_hidden": 2, "samples": 64,
                                         "label_noise": 0.1, "fresh_data": True}, spec.FIELDS))
    recorded, step = run(model, sgd.build(model, sgd.Settings(8)), 0.0, 0.02, 128, 10, 20)
    last = jax.tree.map(lambda x: jnp.asarray(x[-1]), recorded["value"]["position"])
    flat = jax.vmap(lambda p: jax.flatten_util.ravel_pytree(p)[0])(last)
    t_eff = float(np.median(sgd_per_chain.local_temperature(model, flat, jax.tree.map(lambda x: x[0], last), 0.02, 8)))
    out = sgd_tests.drift_test(model, step, kernel.keys(0).noise, recorded, 0.02, 0.0, 0.0, 8, 1.0, t_eff, 0.01)
    assert out["hypotheses"]["sgd"]["statistic"] < out["threshold"]
    assert out["hypotheses"]["langevin"]["statistic"] > out["threshold"]


@pytest.mark.slow
def test_run_of_an_sgd_config_prints_the_drift_table_and_the_stationary_law(tmp_path, capsys):
    small = ["run.chains=64", "run.burn_in=0", "run.steps=200", "run.chain_groups=8"]
    assert cli.main(["run", "configs/uv_sgd.yaml", "--quiet", "--out", str(tmp_path), *small]) == 0
    out = capsys.readouterr().out
    assert "chi_drift: one-step" in out and "stationary_law:" in out
    for hypothesis in ("sgd", "langevin", "naive", "geometric", "sgd_diffusion"):
        assert any(line.startswith(f"  {hypothesis} ") for line in out.splitlines()), (hypothesis, out)

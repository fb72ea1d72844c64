"""SGD's exact stationary covariance on linear-Gaussian regression (predictions.sgd_linear) against
its closed form for S = I and a direct simulation of many chains.

Simulation: N = 2000 independent chains, d = 2, S = diag(1, 4), η = 0.1, B = 2, σ = 1, started at
w*, 300 burn-in steps (30 relaxation times 1/(η·s_min)), then each chain's time average of e eᵀ over
1000 steps. Chains are independent, so for each entry z = (mean over chains − predicted)/(sd/√N)
is N(0, 1) under the prediction; |z| < 4 for the three entries (false alarm < 2e-4). The isotropic-
Langevin covariance at the naive temperature ησ²tr(S)/(2Bd), T·S⁻¹, is asserted to fail the same
test, and so is every temperature at once: Langevin predicts s₁C₁₁ − s₂C₂₂ = 0 for all T.
"""

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.predictions import sgd_linear

SCALES, ETA, BATCH, SIGMA = np.array([1.0, 4.0]), 0.1, 2, 1.0


def test_isotropic_closed_form():
    d, eta, batch, sigma, temperature = 4, 0.3, 1, 0.7, 0.05
    exact = sgd_linear.stationary_covariance(np.eye(d), eta, batch, sigma, temperature)
    closed = (eta * sigma**2 / batch + 2 * temperature) / (2 - eta - eta * (1 + d) / batch)
    np.testing.assert_allclose(exact, closed * np.eye(d), rtol=1e-12, atol=1e-15)
    assert closed > 5 * sgd_linear.naive_temperature(np.eye(d), eta, batch, sigma, temperature)  # η not small here


def simulate(chains=2000, burn=300, steps=1000, seed=0):
    """Per-chain time averages of e eᵀ, shape (chains, d, d), SGD with fresh Gaussian data."""
    root = jnp.sqrt(jnp.asarray(SCALES, jnp.float32))

    def step(error, key):
        kx, ke = jax.random.split(key)
        x = root[None] * jax.random.normal(kx, (BATCH, 2))
        residual = x @ error - SIGMA * jax.random.normal(ke, (BATCH,))  # xᵀw − y with e = w − w*
        return error - ETA * x.T @ residual / BATCH

    def chain(key):
        burn_key, run_key = jax.random.split(key)
        error = jax.lax.scan(lambda e, k: (step(e, k), None), jnp.zeros(2), jax.random.split(burn_key, burn))[0]

        def accumulate(carry, k):
            e, total = carry
            e = step(e, k)
            return (e, total + jnp.outer(e, e)), None

        return jax.lax.scan(accumulate, (error, jnp.zeros((2, 2))), jax.random.split(run_key, steps))[0][1] / steps

    return np.asarray(jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(seed), chains)), np.float64)


def z_scores(samples, predicted):
    entries = [(0, 0), (1, 1), (0, 1)]
    return np.array([(samples[:, i, j].mean() - predicted[i, j]) / (samples[:, i, j].std() / np.sqrt(len(samples)))
                     for i, j in entries])


def test_simulation_matches_exact_covariance_and_rejects_langevin():
    samples = simulate()
    s = np.diag(SCALES)
    exact = sgd_linear.stationary_covariance(s, ETA, BATCH, SIGMA)
    assert np.max(np.abs(z_scores(samples, exact))) < 4
    naive = sgd_linear.langevin_covariance(s, sgd_linear.naive_temperature(s, ETA, BATCH, SIGMA))
    assert np.max(np.abs(z_scores(samples, naive))) > 4
    contrast = SCALES[0] * samples[:, 0, 0] - SCALES[1] * samples[:, 1, 1]  # 0 under Langevin at any T
    assert abs(contrast.mean() / (contrast.std() / np.sqrt(len(contrast)))) > 4

"""The predicted SGD drift of χ (predictions.chi_drift) against exact steps and Monte Carlo.

- u·v, one GD step, float64: χ' − χ = −η² g_θ² χ exactly (g_θ = ∂L/∂θ), to 1e-12 relative.
- Full-batch GD on a finite set (c = 0): the autodiff formula equals the exact one-step Δχ to float64
  round-off (χ is quadratic, so the second-order expansion is exact).
- Minibatch SGD, Hadamard with n = 12 measurement rows, B = 4 without replacement: N = 20 000 one-step
  draws of Δχ ∈ R⁴ from one θ. Statistic per component: z = (mean Δχ − predicted)/(sd Δχ/√N), N(0, 1)
  under the prediction; |z| < 4 for all four (family-wise false alarm < 3e-4). The wrong hypotheses
  (c = 1, i.e. with replacement; no noise term) are asserted to give max |z| > 4.
- Noise equilibrium: u·v's is χ = 0 (module docstring); a one-neuron ReLU pair's is
  e^{4a*} = E‖g_W,B‖²/E g_v,B² at θ (g_W scales as e^{−a}, g_v as e^{a} along the orbit).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib import models
from langevin_ib.geometry import breaking
from langevin_ib.models.fields import section
from langevin_ib.predictions import chi_drift


def build(name, dtype=jnp.float32, **cfg):
    spec = models.REGISTRY[name]
    return spec.build(section("model", cfg, spec.FIELDS), dtype)


def gd_step(model, params, eta, examples):
    grad = jax.grad(model.data.batch_loss)(params, examples)
    return jax.tree.map(lambda p, g: p - eta * g, params, grad)


def test_uv_gd_step_changes_chi_by_minus_eta2_g2_chi():
    with jax.enable_x64(True):
        model = build("uv", jnp.float64, copies=5, target=1.3)
        params = {"u": jnp.linspace(-1.5, 2.0, 5), "v": jnp.linspace(0.7, -1.1, 5)}
        eta = 0.3
        g_theta = params["u"] * params["v"] - 1.3
        moved = jax.tree.map(lambda p, g: p - eta * g, params, jax.grad(model.loss)(params))
        chi = lambda p: 0.5 * (p["u"] ** 2 - p["v"] ** 2)
        np.testing.assert_allclose(chi(moved) - chi(params), -eta**2 * g_theta**2 * chi(params), rtol=1e-12)


def test_full_batch_drift_is_the_exact_gd_step():
    with jax.enable_x64(True):
        model = build("hadamard", jnp.float64, size=4, measurements=12, noise=0.3)
        params = jax.tree.map(lambda x: 1.5 * x, model.init(jax.random.key(0)))
        eta = 0.2
        exact = breaking(model.group, gd_step(model, params, eta, model.data.examples)) - breaking(model.group, params)
        np.testing.assert_allclose(chi_drift.sgd_drift(model, params, eta, None), exact, rtol=1e-10, atol=1e-15)


def max_z(model, params, eta, batch, predicted, draws=20_000):
    def delta(key):
        moved = gd_step(model, params, eta, model.data.sample(key, batch))
        return breaking(model.group, moved) - breaking(model.group, params)

    samples = np.asarray(jax.jit(jax.vmap(delta))(jax.random.split(jax.random.key(1), draws)))
    return np.max(np.abs((samples.mean(0) - predicted) / (samples.std(0) / np.sqrt(draws))))


def test_minibatch_drift_matches_monte_carlo_and_rejects_wrong_forms():
    with jax.enable_x64(True):
        model = build("hadamard", jnp.float64, size=4, measurements=12, noise=0.3)
        params = jax.tree.map(lambda x: 1.5 * x, model.init(jax.random.key(0)))
        eta, batch, n = 0.2, 4, 12
        predicted = chi_drift.sgd_drift(model, params, eta, batch)
        full = chi_drift.sgd_drift(model, params, eta, None)
        noise = predicted - full  # the c/B·tr(∇²χ Σ) term, c = (n − B)/(n − 1)
        assert max_z(model, params, eta, batch, predicted) < 4
        assert max_z(model, params, eta, batch, full + noise * (n - 1) / (n - batch)) > 4  # with replacement
        assert max_z(model, params, eta, batch, full) > 4  # no minibatch noise


def test_uv_noise_equilibrium_is_the_balanced_point():
    with jax.enable_x64(True):
        model = build("uv", jnp.float64, copies=1, label_noise=0.5, target=1.0)
        params = {"u": jnp.array([2.0]), "v": jnp.array([0.3])}
        examples = model.data.draw(jax.random.key(0), 4096)
        drift = partial(chi_drift.sgd_drift, model, step_size=0.1, batch_size=4, examples=examples, weight_decay=0.01)
        root, at = jax.jit(lambda p: chi_drift.noise_equilibrium(drift, model.group, p))(params)
        np.testing.assert_allclose(at["u"] * at["v"], 0.6, rtol=1e-12)
        np.testing.assert_allclose(jnp.abs(at["u"]), jnp.abs(at["v"]), rtol=1e-9)


def test_relu_neuron_noise_equilibrium_closed_form():
    with jax.enable_x64(True):
        model = build("relu", jnp.float64, hidden=1, samples=16, label_noise=0.3)
        params = jax.tree.map(lambda x: 2.0 * x, model.init(jax.random.key(4)))
        eta, batch, n = 0.05, 4, 16
        drift = partial(chi_drift.sgd_drift, model, step_size=eta, batch_size=batch)
        root, _ = jax.jit(lambda p: chi_drift.noise_equilibrium(drift, model.group, p))(params)
        mean, cov = chi_drift.gradient_moments(model.data.example_loss, params, model.data.examples)
        second = jnp.outer(mean, mean) + (n - batch) / (n - 1) / batch * cov  # E[g_B g_Bᵀ], flat order (W, v)
        up, down = jnp.trace(second[:-1, :-1]), second[-1, -1]
        np.testing.assert_allclose(root, 0.25 * jnp.log(up / down), rtol=1e-8)

"""Noise equilibria per chain (predictions.sgd_per_chain.noise_equilibria) and the closed-form χ of a
rescaling chain they read (closed_form_chi), float64.

- closed_form_chi equals the canonical χ = ½⟨θ, ξ_a(θ)⟩ (geometry.breaking) to 1e-12 on ReLU (pairs)
  and the depth-3 scalar chain (two generators per copy, level-major order).

- ReLU, 3 neurons, 16 examples, B = 4 without replacement, 3 chains: each neuron's a* against its closed
  form e^{4a*} = E‖g_W,B‖²/E g_v,B² (tests/predictions/test_chi_drift.py's one-neuron case; the neurons'
  copies are bisected together, so this checks that each copy's root reads its own copy only), to 1e-7
  (bisection of [−6, 6] in 32 halvings resolves 3·10⁻⁹).
- Deep scalar chain, depth 3 (two overlapping generators per copy), 2 copies, 2 chains: against
  chi_drift.noise_equilibrium on each generator alone with the same examples, to 1e-7 (the same
  bisection of the same function; rounding can move the last halvings only).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib import models
from langevin_ib.geometry import breaking
from langevin_ib.models.fields import section
from langevin_ib.predictions import chi_drift, sgd_per_chain


def build(name, **cfg):
    spec = models.REGISTRY[name]
    return spec.build(section("model", cfg, spec.FIELDS), jnp.float64)


def stacked(model, seeds, scale):
    return jax.tree.map(lambda *x: scale * jnp.stack(x), *[model.init(jax.random.key(s)) for s in seeds])


def test_relu_copies_bisected_together_match_each_neurons_closed_form():
    with jax.enable_x64(True):
        model = build("relu", hidden=3, samples=16, label_noise=0.3)
        eta, batch, n = 0.05, 4, 16
        factor = (n - batch) / (n - 1)
        params = stacked(model, [4, 5, 6], 2.0)
        a_star = sgd_per_chain.noise_equilibria(model, params, eta, 0.0, 0.0, batch, factor)
        for c in range(3):
            one = jax.tree.map(lambda x: x[c], params)
            mean, cov = chi_drift.gradient_moments(model.data.example_loss, one, model.data.examples)
            second = jnp.diag(jnp.outer(mean, mean) + factor / batch * cov)  # flat order (W row by row, v)
            up, down = second[:-3].reshape(3, -1).sum(axis=1), second[-3:]
            np.testing.assert_allclose(a_star[c], 0.25 * np.log(up / down), atol=1e-7)


def test_chain_levels_match_one_generator_at_a_time():
    with jax.enable_x64(True):
        model = build("deep_scalar", depth=3, copies=2, label_noise=0.5, target=1.0, init_noise=0.3)
        eta, batch, seed = 0.05, 4, 3
        params = stacked(model, [0, 1], 1.0)
        a_star = sgd_per_chain.noise_equilibria(model, params, eta, 0.0, 0.0, batch, 1.0, seed)
        keys = jax.vmap(jax.random.fold_in, (None, 0))(jax.random.key(seed + 97), jnp.arange(2))
        examples = sgd_per_chain.examples_of(model, sgd_per_chain.SIGMA_EXAMPLES, keys)
        @jax.jit
        def alone(params, examples, k):  # generator k = (level k // 2, copy k % 2) acting alone, k traced
            drift = partial(chi_drift.sgd_drift, model, step_size=eta, batch_size=batch, examples=examples)
            single = model.group._replace(act=lambda a, p: model.group.act(a[0] * jax.nn.one_hot(k, 4), p), dim=1)
            return chi_drift.noise_equilibrium(lambda p: drift(p)[k][None], single, params, 6.0, 32)[0]

        for c in range(2):
            for k in range(model.group.dim):
                root = alone(jax.tree.map(lambda x: x[c], params), jax.tree.map(lambda x: x[c], examples), k)
                np.testing.assert_allclose(a_star[c, k], root, atol=1e-7)
        assert np.isfinite(a_star).all()  # every generator has an equilibrium in the bracket here


def test_closed_form_chi_is_the_canonical_one():
    with jax.enable_x64(True):
        for model in (build("relu", hidden=3, samples=16), build("deep_scalar", depth=3, copies=2, init_noise=0.3)):
            params = model.init(jax.random.key(2))
            closed = sgd_per_chain.closed_form_chi(model).group.breaking(params)
            np.testing.assert_allclose(closed, breaking(model.group, params), rtol=1e-12, atol=1e-12)

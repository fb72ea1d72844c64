"""Declaring data leaves the full-batch loss unchanged: the mean of the per-example loss over a finite
set equals ``loss`` (float32 round-off, rtol 1e-5), and a generator's expectation is ``loss + offset``.

The generator check is Monte Carlo: n = 40 000 draws of ℓ at a fixed θ; the statistic is
z = (mean ℓ − (L + offset)) / (sd ℓ / √n), which is N(0, 1) when the closed form holds. |z| < 4
(false alarm 6e-5); a missing label-noise floor (offset 0) moves the mean by mσ²/2, ≥ 20 standard
errors at the sizes used, and is asserted to fail the same test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib import models
from langevin_ib.models.fields import section

FINITE = [("hadamard", {"measurements": 12, "size": 5, "noise": 0.1}), ("hadamard", {"size": 5}),
          ("matrix_factorisation", {"observed": 0.5}), ("relu", {"samples": 16}), ("attention", {"samples": 8})]


def build(name, **cfg):
    spec = models.REGISTRY[name]
    return spec.build(section("model", cfg, spec.FIELDS))


@pytest.mark.parametrize("name,cfg", FINITE)
def test_finite_set_mean_is_the_loss(name, cfg):
    model = build(name, **cfg)
    params = jax.tree.map(lambda x: 1.3 * x, model.init(jax.random.key(1)))
    assert model.data.size is not None and model.data.offset == 0.0
    mean = model.data.batch_loss(params, model.data.examples)
    np.testing.assert_allclose(mean, model.loss(params), rtol=1e-5)
    full = model.data.sample(jax.random.key(0), None)
    np.testing.assert_allclose(model.data.batch_loss(params, full), model.loss(params), rtol=1e-5)


def z_score(model, params, offset, n=40_000):
    values = jax.vmap(model.data.example_loss, in_axes=(None, 0))(params, model.data.draw(jax.random.key(2), n))
    values = np.asarray(values, np.float64)
    return (values.mean() - (float(model.loss(params)) + offset)) / (values.std() / np.sqrt(n))


@pytest.mark.parametrize("name,cfg", [("uv", {"copies": 3, "label_noise": 0.5, "target": 1.5}),
                                      ("deep_scalar", {"copies": 2, "label_noise": 0.5, "depth": 3})])
def test_generator_expectation_is_loss_plus_offset(name, cfg):
    model = build(name, **cfg)
    params = jax.tree.map(lambda x: 0.8 * x + 0.1, model.init(jax.random.key(3)))
    np.testing.assert_allclose(model.data.offset, 0.5 * cfg["copies"] * cfg["label_noise"] ** 2)
    assert abs(z_score(model, params, model.data.offset)) < 4
    assert abs(z_score(model, params, 0.0)) > 4


@pytest.mark.parametrize("name", ["relu", "attention"])
def test_fresh_teacher_data_has_the_finite_sets_shapes(name):
    finite, fresh = build(name), build(name, fresh_data=True)
    drawn = fresh.data.sample(jax.random.key(0), 3)
    assert fresh.data.offset is None and fresh.data.size is None
    assert jax.tree.map(lambda x: x.shape[1:], drawn) == jax.tree.map(lambda x: x.shape[1:], finite.data.examples)
    params = finite.init(jax.random.key(1))
    assert jnp.isfinite(fresh.data.batch_loss(params, drawn))

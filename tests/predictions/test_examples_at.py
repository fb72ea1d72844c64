"""The SGD analysis' example draws with the keys derived inside the compiled draw
(predictions.sgd_per_chain.examples_at) are the draws of the per-chain keys fold_in(root, c)
(examples_of) bit for bit, and the noise equilibria drawn for more chains than they bisect (the drift
test's chain count, so that both share one compiled draw) are the same a*, bit for bit: u·v, fresh data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib import models
from langevin_ib.models.fields import section
from langevin_ib.predictions import sgd_per_chain


def uv():
    spec = models.REGISTRY["uv"]
    return spec.build(section("model", {"init_u": 1.5, "init_v": 0.5, "init_noise": 0.3, "label_noise": 1.0}, spec.FIELDS))


def test_examples_at_are_the_examples_of_the_folded_keys():
    model, root = uv(), jax.random.key(7)
    keys = jax.vmap(jax.random.fold_in, (None, 0))(root, jnp.arange(5))
    expected = sgd_per_chain.examples_of(model, 8, keys)
    drawn = sgd_per_chain.examples_at(model, 8, root, 5)
    for name in expected:
        np.testing.assert_array_equal(np.asarray(drawn[name]), np.asarray(expected[name]))


@pytest.mark.slow  # three compiles (two draws and the bisection): 11 s on 2 loaded cores
def test_noise_equilibria_drawn_for_more_chains_are_unchanged():
    model = uv()
    params = jax.vmap(model.init)(jax.random.split(jax.random.key(3), 4))
    alone = sgd_per_chain.noise_equilibria(model, params, 0.1, 0.0, 0.0, 2, 1.0, seed=5)
    shared = sgd_per_chain.noise_equilibria(model, params, 0.1, 0.0, 0.0, 2, 1.0, seed=5, draws_for=32)
    assert np.isfinite(alone).all()
    np.testing.assert_array_equal(shared, alone)

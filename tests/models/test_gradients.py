"""Every zoo model's ∇L as the integrators take it (``Model.gradient`` where the model gives one) equals
jax.grad of its loss, and the blocked full-batch gradient equals the unblocked one for any block size.

float64, so rounding (the blocks add the examples' terms in another order) is ~1e-15 relative; the
tolerance 1e-10 is far above that and far below any real error (a block counted twice or missed moves
the gradient by ~1/blocks of it)."""

import chex
import jax
import jax.numpy as jnp
import pytest

from langevin_ib.dynamics.integrators.base import potential_gradient
from langevin_ib.models import REGISTRY, data

TOLERANCE = 1e-10


SMALL = {"relu": {"hidden": 4, "samples": 12}, "attention": {"samples": 6, "length": 3}}  # cheap to compile


def build(name: str):
    cfg = {key: field.default for key, field in REGISTRY[name].FIELDS.items()} | SMALL.get(name, {})
    return REGISTRY[name].build(cfg, jnp.float64)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("name", ["relu", pytest.param("attention", marks=pytest.mark.slow)])  # attention: 30 s loaded
def test_potential_gradient_is_jax_grad_of_the_potential(name):
    """The networks' blocked gradient (blocks of 2 of 12 examples for ReLU, 1 of 6 for attention) plus the
    decay's, with one λ per chain, against jax.grad of U."""
    model = build(name)
    assert model.gradient is not None
    params = jax.jit(jax.vmap(model.init))(jax.random.split(jax.random.key(3), 5))
    weight_decay = jnp.linspace(0.0, 0.3, 5)
    expected = jax.jit(jax.vmap(jax.grad(lambda p, wd: model.potential(wd)(p))))(params, weight_decay)
    chex.assert_trees_all_close(jax.jit(potential_gradient(model))(params, weight_decay), expected,
                                rtol=TOLERANCE, atol=TOLERANCE)


def test_only_the_networks_give_a_gradient():
    """The other models' integrators take jax.grad of U itself (their gradients have no large temporaries)."""
    assert {name for name in REGISTRY if build(name).gradient is not None} == set(SMALL)


@pytest.mark.parametrize("block", [1, 3, 4, 7, 64, 100])
def test_blocked_gradient_is_the_full_batch_gradient(block):
    """Blocks of 3 and 7 do not divide 12 examples: the largest divisor below is used (2 and 6)."""
    key = jax.random.key(0)
    examples = {"x": jax.random.normal(key, (12, 3)), "y": jax.random.normal(jax.random.fold_in(key, 1), (12,))}
    mean_loss = lambda params, batch: 0.5 * jnp.mean((jnp.tanh(batch["x"] @ params["w"]) * params["a"] - batch["y"]) ** 2)
    params = {"w": jnp.array([0.3, -1.2, 0.7]), "a": jnp.array(1.5)}
    chex.assert_trees_all_close(data.blocked_gradient(mean_loss, examples, block)(params),
                                jax.grad(mean_loss)(params, examples), rtol=TOLERANCE, atol=TOLERANCE)

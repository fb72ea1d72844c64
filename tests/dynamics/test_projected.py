"""The projections of langevin_ib.dynamics.integrators.projected, for every model of the zoo.

The orthogonal projection of a rescaling chain (``nearest_on_slice``) must land on χ = 0, leave a
displacement normal to S there (in the row space of Dχ at the new point: the first-order condition
of the nearest point), and be no farther from the proposal than the generic projection along the
previous point's normals (``project``), which also lands on S. Tolerances: float32, O(1)
parameters; 1e-5 is many roundings of the O(1) quantities compared."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from langevin_ib import geometry, models
from langevin_ib.dynamics.integrators import Hyperparameters, UnsupportedModel, projected
from langevin_ib.models.fields import section

ZOO = [("uv", {}), ("hadamard", {}), ("deep_scalar", {"depth": 3}), ("deep_scalar", {"depth": 5, "copies": 2}),
       ("matrix_factorisation", {}), ("relu", {}), ("attention", {})]
SLOW = ("relu", "attention")  # 3–6 s each (compiles); the other five keep the claim in the fast tier


@pytest.mark.parametrize("name,cfg", [pytest.param(n, c, marks=[pytest.mark.slow] if n in SLOW else []) for n, c in ZOO],
                         ids=[f"{n}{c.get('depth', '')}" for n, c in ZOO])
def test_orthogonal_projection_is_the_nearest_point_of_the_slice(name, cfg):
    spec = models.REGISTRY[name]
    model = spec.build(section("model", cfg, spec.FIELDS))
    params = jax.tree.map(lambda x: 1.5 * x, model.init(jax.random.key(1)))
    anchor = projected.balance(model.chain, params)
    chi = functools.partial(geometry.breaking, model.group)
    assert float(jnp.abs(chi(anchor)).max()) < 1e-5  # balance lands on the slice
    keys = iter(jax.random.split(jax.random.key(2), len(jax.tree.leaves(anchor))))
    proposal = jax.tree.map(lambda x: x + 0.05 * jax.random.normal(next(keys), x.shape, x.dtype), anchor)
    assert float(jnp.abs(chi(proposal)).max()) > 1e-3  # the proposal is off the slice
    nearest = projected.nearest_on_slice(model.chain, anchor, proposal)
    assert float(jnp.abs(chi(nearest)).max()) < 1e-5
    flat_nearest, unravel = ravel_pytree(nearest)
    displacement = ravel_pytree(proposal)[0] - flat_nearest
    normals = jax.jacrev(lambda x: chi(unravel(x)))(flat_nearest)  # (m, d)
    coefficients = np.linalg.lstsq(np.asarray(normals.T, np.float64), np.asarray(displacement, np.float64), rcond=None)[0]
    tangential = np.asarray(displacement, np.float64) - np.asarray(normals.T, np.float64) @ coefficients
    assert np.linalg.norm(tangential) < 1e-5 * max(1.0, float(jnp.linalg.norm(displacement))), tangential
    along_normals = projected.project(chi, anchor, proposal)
    assert float(jnp.abs(chi(along_normals)).max()) < 1e-5
    distance = lambda point: float(jnp.linalg.norm(ravel_pytree(point)[0] - ravel_pytree(proposal)[0]))
    assert distance(nearest) <= distance(along_normals) + 1e-6


def test_a_projection_that_misses_the_slice_is_reported_failed():
    """A proposal whose normal line from the anchor never meets χ = 0 (u·v: anchor at the apex, where
    Dχ = 0) cannot be projected along the normals; the step must report that chain failed (the runner
    then counts it as diverged: tests/dynamics/test_runner.py) and not the other."""
    uv = models.REGISTRY["uv"].build(section("model", {}, models.REGISTRY["uv"].FIELDS))
    canonical = functools.partial(geometry.breaking, uv.group)
    model = uv._replace(group=uv.group._replace(breaking=canonical))  # a user-supplied χ: the generic route
    integrator = projected.build(model)
    assert integrator.constrained and integrator.weak_order == projected.SPEC.weak_order == 1
    state = projected.State({"u": jnp.asarray([[0.0], [1.0]]), "v": jnp.asarray([[0.0], [1.0]])})  # 2 chains
    hyperparameters = Hyperparameters(jnp.float32(0.1), jnp.float32(0.01), jnp.float32(0.0))
    moved, info = integrator.step(jax.random.key(0), state, hyperparameters)
    np.testing.assert_array_equal(info.failed, [True, False])
    assert abs(float(moved.position["u"][1, 0] ** 2 - moved.position["v"][1, 0] ** 2)) < 1e-5


def test_projected_needs_a_group_action():
    model = models.REGISTRY["harmonic"].build(section("model", {}, models.REGISTRY["harmonic"].FIELDS))
    with pytest.raises(UnsupportedModel, match="no group action"):
        projected.build(model)

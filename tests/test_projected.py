"""The closed-form projection of rescaling chains (langevin_ib.integrators.projected.project_chain)
against the generic autodiff + LAPACK projection, for every model of the zoo: both move the
proposal along Dχ(anchor)ᵀ onto χ = 0, so they must land on the same point (the root nearest to
λ = 0). Tolerance: float32, O(1) parameters, 4 Newton steps each: 1e-5 absolute is many roundings."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib import geometry, models
from langevin_ib.integrators import projected
from langevin_ib.schema import section

ZOO = [("uv", {}), ("hadamard", {}), ("deep_scalar", {"depth": 3}), ("deep_scalar", {"depth": 5, "copies": 2}),
       ("matrix_factorisation", {}), ("relu", {}), ("attention", {})]


@pytest.mark.parametrize("name,cfg", ZOO, ids=[f"{n}{c.get('depth', '')}" for n, c in ZOO])
def test_chain_projection_matches_the_generic_one(name, cfg):
    spec = models.REGISTRY[name]
    model = spec.build(section("model", cfg, spec.FIELDS))
    params = jax.tree.map(lambda x: 1.5 * x, model.init(jax.random.key(1)))
    anchor = projected.balance(model.chain, params)
    chi = functools.partial(geometry.breaking, model.group)
    assert float(jnp.abs(chi(anchor)).max()) < 1e-5  # balance lands on the slice
    keys = iter(jax.random.split(jax.random.key(2), len(jax.tree.leaves(anchor))))
    proposal = jax.tree.map(lambda x: x + 0.05 * jax.random.normal(next(keys), x.shape, x.dtype), anchor)
    assert float(jnp.abs(chi(proposal)).max()) > 1e-3  # the proposal is off the slice
    generic = projected.project(chi, anchor, proposal)
    closed_form = projected.project_chain(model.chain, anchor, proposal)
    assert float(jnp.abs(chi(closed_form)).max()) < 1e-5
    for a, b in zip(jax.tree.leaves(generic), jax.tree.leaves(closed_form)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_thomas_solver_matches_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5):
        diagonal, off, rhs = 3 + rng.random((4, n)), rng.standard_normal((4, n - 1)), rng.standard_normal((4, n))
        solution = projected.solve_tridiagonal(*(jnp.asarray(a, jnp.float32) for a in (diagonal, off, rhs)))
        for i in range(4):
            matrix = np.diag(diagonal[i]) + np.diag(off[i], 1) + np.diag(off[i], -1)
            np.testing.assert_allclose(np.asarray(solution[i]), np.linalg.solve(matrix, rhs[i]), rtol=1e-5, atol=1e-6)

"""langevin_ib.numerics.small_dot: the product-and-sum equals lax.dot_general (float64, to 1e-12 relative)
for a dense layer's contraction, several contracted axes and a vmapped (batched) use; batch
dimensions are refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib.numerics import small_dot

CASES = [((5, 3), (3, 16), (((1,), (0,)), ((), ()))),  # a Dense layer: inputs @ kernel
         ((3,), (3, 1), (((0,), (0,)), ((), ()))),  # one example
         ((2, 4, 3), (3, 5, 4), (((1, 2), (2, 0)), ((), ())))]  # two contracted axes, in another order


@pytest.mark.parametrize("lhs_shape, rhs_shape, numbers", CASES)
def test_equals_dot_general(lhs_shape, rhs_shape, numbers):
    with jax.enable_x64(True):
        lhs = jax.random.normal(jax.random.key(0), lhs_shape, jnp.float64)
        rhs = jax.random.normal(jax.random.key(1), rhs_shape, jnp.float64)
        np.testing.assert_allclose(small_dot.dot_general(lhs, rhs, numbers), jax.lax.dot_general(lhs, rhs, numbers),
                                   rtol=1e-12, atol=1e-12)
        mapped = jax.vmap(lambda left, right: small_dot.dot_general(left, right, numbers))
        batched = mapped(jnp.stack([lhs, -lhs]), jnp.stack([rhs, rhs]))
        np.testing.assert_allclose(batched[1], -jax.lax.dot_general(lhs, rhs, numbers), rtol=1e-12, atol=1e-12)


def test_batch_dimensions_are_refused():
    with pytest.raises(ValueError, match="batch dimensions"):
        small_dot.dot_general(jnp.ones((2, 3)), jnp.ones((2, 3)), (((1,), (1,)), ((0,), (0,))))

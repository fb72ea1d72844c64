"""The volume factors behind the singular-value conditionals (langevin_ib.predictions.general_linear.singular_modes), checked by
autodiff: the area-formula Jacobian of the chart (σ, P, Q) ↦ slice point and ↦ X = P diag(σ) Qᵀ."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib import geometry
from langevin_ib.predictions.general_linear import singular_modes
from langevin_ib.base import Binning
from langevin_ib.models import matrix_factorisation


@pytest.fixture(autouse=True)
def float64():
    """Differences of log-Jacobians to 1e-8 need float64; restored after (runs set it per config)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def stiefel(frame: np.ndarray, rank: int):
    """a ↦ first ``rank`` columns of frame·expm(G(a)), G = [[Ω, −Kᵀ], [K, 0]] skew (Ω r×r skew, K
    (n−r)×r): a chart of the Stiefel manifold whose metric at a = 0 is the same for every frame."""
    n = frame.shape[0]
    upper = np.triu_indices(rank, 1)
    count = len(upper[0]) + (n - rank) * rank

    def point(a):
        omega = jnp.zeros((rank, rank)).at[upper].set(a[: len(upper[0])])
        k = a[len(upper[0]):].reshape(n - rank, rank)
        generator = jnp.zeros((n, n)).at[:rank, :rank].set(omega - omega.T).at[rank:, :rank].set(k).at[:rank, rank:].set(-k.T)
        return (jnp.asarray(frame) @ jax.scipy.linalg.expm(generator))[:, :rank]

    return point, count


def log_area(chart, sigma: np.ndarray, counts: tuple[int, int]) -> float:
    """log √det(DcᵀDc) of c(σ, a, b) at a = b = 0."""
    zeros = jnp.zeros(sum(counts))
    jacobian = jax.jacfwd(lambda x: jax.flatten_util.ravel_pytree(chart(x[: len(sigma)], x[len(sigma): len(sigma) + counts[0]],
                                                    x[len(sigma) + counts[0]:]))[0])(jnp.concatenate([jnp.asarray(sigma), zeros]))
    return 0.5 * float(jnp.linalg.slogdet(jacobian.T @ jacobian)[1])


@pytest.mark.slow
@pytest.mark.parametrize("rows, cols, rank", [(6, 6, 2), (5, 3, 3), (4, 7, 2)])
def test_slice_and_matrix_volumes_match_the_closed_forms(rows, cols, rank):
    """Differences of log J between random σ (frames fixed) equal those of the docstring's
    Π σ^{(n+p−2r−1)/2} Π(σ_i + σ_j) (slice) and Π σ^{n+p−2r} Π|σ_i² − σ_j²| (rank-r matrices)."""
    rng = np.random.default_rng(rows * cols + rank)
    left, right = (np.linalg.qr(rng.standard_normal((m, m)))[0] for m in (rows, cols))
    (p_of, p_count), (q_of, q_count) = stiefel(left, rank), stiefel(right, rank)
    on_slice = lambda s, a, b: (p_of(a) * jnp.sqrt(s)[None], q_of(b) * jnp.sqrt(s)[None])
    product = lambda s, a, b: (p_of(a) * s[None]) @ q_of(b).T
    excess, pairs = rows + cols - 2 * rank, np.triu_indices(rank, 1)

    def expected(sigma):
        return (0.5 * (excess - 1) * np.log(sigma).sum() + np.log(sigma[pairs[0]] + sigma[pairs[1]]).sum(),
                excess * np.log(sigma).sum() + np.log(np.abs(sigma[pairs[0]] ** 2 - sigma[pairs[1]] ** 2)).sum())

    reference = rng.uniform(0.5, 3.0, rank)
    for _ in range(3):
        sigma = rng.uniform(0.2, 4.0, rank)
        measured = [log_area(chart, sigma, (p_count, q_count)) - log_area(chart, reference, (p_count, q_count))
                    for chart in (on_slice, product)]
        np.testing.assert_allclose(measured, np.subtract(expected(sigma), expected(reference)), atol=1e-8)


def test_breaking_gram_on_the_slice_and_the_geometric_exponent():
    """det G_χ ∝ Π σ_j Π_{i<j}(σ_i + σ_j)² on the slice (by autodiff), so that the geometric density
    e^{−U/T}(det G_χ)^{−1/2}dσ_S differs from the projected one by Π σ_j^{−1/2}Π(σ_i + σ_j)^{−1}:
    the module's log densities differ by exactly that (up to a constant in t)."""
    cfg = dict(rows=5, cols=4, rank=3, singular_values=[3.0, 2.0, 1.0], observed=1.0, data_seed=0, init_scale=1.0,
               symmetry="general_linear")
    model = matrix_factorisation.build(cfg, jnp.float64)
    rng = np.random.default_rng(0)
    left, right = (np.linalg.qr(rng.standard_normal((m, 3)))[0] for m in (5, 4))
    logs = []
    for sigma in (np.array([2.0, 1.0, 0.5]), np.array([3.0, 0.7, 0.2])):
        params = {"U": jnp.asarray(left * np.sqrt(sigma)), "V": jnp.asarray(right * np.sqrt(sigma))}
        pairs = np.triu_indices(3, 1)
        closed = np.log(sigma).sum() + 2 * np.log(sigma[pairs[0]] + sigma[pairs[1]]).sum()
        logs.append(float(geometry.log_det_breaking_gram(model.group, params)) - closed)
        density = singular_modes.log_densities(model, 0.1, 0.0, Binning(0.0, 4.0, 8))
        grid = jnp.asarray([0.3, 0.9, 1.7])
        projected, geometric, _ = np.asarray(jax.vmap(lambda t: density(params, 1, t))(grid)).T
        others = np.delete(sigma, 1)
        correction = -0.5 * np.log(np.asarray(grid)) - np.log(np.asarray(grid)[:, None] + others[None]).sum(axis=1)
        np.testing.assert_allclose(np.diff(geometric - projected), np.diff(correction), atol=1e-10)
    np.testing.assert_allclose(logs[0], logs[1], atol=1e-9)  # the same constant at both points

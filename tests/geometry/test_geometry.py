"""The autodiff geometry against the paper's closed forms (eqs. 15, 46, 50, 58) and our own
(deep scalar), at random shapes and parameters (hypothesis), plus the checks on bad symmetries.

Tolerances: float32 log-determinants of O(1)-conditioned matrices of size ≤ 16 carry round-off of a
few 1e-6 relative; 1e-4 is far below any formula error (a missing v_j² vs v_j changes L_IB by O(1))."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langevin_ib.predictions.rescaling import level_set, fibre
from langevin_ib import geometry, models
from langevin_ib.geometry import checks as symmetry_checks
from langevin_ib.predictions import curves as curves_lib, theory_uv
from langevin_ib.models.fields import section

SETTINGS = settings(max_examples=5, deadline=None)


def build(name, **cfg):
    spec = models.REGISTRY[name]
    return spec.build(section("model", cfg, spec.FIELDS))


def random_params(model, seed):
    return jax.tree.map(lambda x: x * 1.5, model.init(jax.random.key(seed)))


def log_det_G(model, params):
    return float(jax.jit(lambda p: geometry.log_det_breaking_gram(model.group, p))(params))


@SETTINGS
@given(size=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_hadamard_matches_eq15(size, seed):
    model = build("hadamard", size=size, init_noise=0.5)
    p = random_params(model, seed)
    assert log_det_G(model, p) == pytest.approx(float(jnp.sum(jnp.log(p["u"] ** 2 + p["v"] ** 2))), rel=1e-4, abs=1e-4)


@SETTINGS
@given(rows=st.integers(2, 5), cols=st.integers(2, 5), rank=st.integers(1, 2), seed=st.integers(0, 10_000))
def test_matrix_factorisation_matches_eq58(rows, cols, rank, seed):
    model = build("matrix_factorisation", rows=rows, cols=cols, rank=rank)
    p = random_params(model, seed)
    closed = jnp.sum(jnp.log(jnp.sum(p["U"] ** 2, 0) + jnp.sum(p["V"] ** 2, 0)))
    assert log_det_G(model, p) == pytest.approx(float(closed), rel=1e-4, abs=1e-4)
    # eq. (58) on the singular-mode slice U = QΛ_U, V = PΛ_V
    rng = np.random.default_rng(seed)
    q, pp = (np.linalg.qr(rng.standard_normal((n, rank)))[0] for n in (rows, cols))
    lam_u, lam_v = rng.uniform(0.5, 2, rank), rng.uniform(0.5, 2, rank)
    mode = {"U": jnp.asarray(q * lam_u, jnp.float32), "V": jnp.asarray(pp * lam_v, jnp.float32)}
    assert log_det_G(model, mode) == pytest.approx(float(np.sum(np.log(lam_u**2 + lam_v**2))), rel=1e-4, abs=1e-4)


@pytest.mark.slow
@SETTINGS
@given(inputs=st.integers(1, 4), hidden=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_relu_matches_eq46_with_v_squared(inputs, hidden, seed):
    model = build("relu", inputs=inputs, hidden=hidden, samples=8)
    p = random_params(model, seed)
    closed = jnp.sum(jnp.log(jnp.sum(p["W"] ** 2, 1) + p["v"] ** 2))
    assert log_det_G(model, p) == pytest.approx(float(closed), rel=1e-4, abs=1e-4)
    # eq. (45) as printed, ‖W_j‖² + |v_j|, is wrong for every neuron whose |v_j| is away from 0 and 1
    # (compared per neuron: in the sum of logs two neurons' errors can cancel, which hypothesis found)
    gram = np.diag(np.asarray(geometry.breaking_gram(model.group, p)))
    printed = np.asarray(jnp.sum(p["W"] ** 2, 1) + jnp.abs(p["v"]))
    away = np.abs(np.abs(np.asarray(p["v"])) - np.asarray(p["v"]) ** 2) > 1e-2
    assert np.all(np.abs(gram - printed)[away] > 1e-3), (gram, printed)


@SETTINGS
@given(dim=st.integers(2, 4), rank=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_attention_matches_eq50(dim, rank, seed):
    model = build("attention", dim=dim, rank=rank, samples=4)
    p = random_params(model, seed)
    closed = jnp.sum(jnp.log(jnp.sum(p["Q"] ** 2, 0) + jnp.sum(p["K"] ** 2, 0)))
    assert log_det_G(model, p) == pytest.approx(float(closed), rel=1e-4, abs=1e-4)


@SETTINGS
@given(depth=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_deep_scalar_tridiagonal_gram(depth, seed):
    model = build("deep_scalar", depth=depth, init_noise=0.5)
    u = np.asarray(random_params(model, seed)["u"][:, 0], np.float64)
    gram = np.diag(u[:-1] ** 2 + u[1:] ** 2) - np.diag(u[1:-1] ** 2, 1) - np.diag(u[1:-1] ** 2, -1)
    assert log_det_G(model, {"u": jnp.asarray(u[:, None], jnp.float32)}) == pytest.approx(
        np.linalg.slogdet(gram)[1], rel=1e-4, abs=1e-4)


@pytest.mark.slow
@settings(max_examples=3, deadline=None)
@given(rows=st.integers(3, 6), cols=st.integers(3, 6), rank=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_general_linear_action_on_the_singular_mode_slice(rows, cols, rank, seed):
    """Full GL(r) on UVᵀ: the checks pass, Newton (acting from the current point, a non-abelian
    group) lands on UᵀU = VᵀV diagonal, and there det G_χ = det H = Π_{i,j}(σ_i + σ_j)."""
    model = build("matrix_factorisation", rows=rows, cols=cols, rank=rank, symmetry="general_linear",
                  singular_values=[3.0, 2.0, 1.0][:rank])
    symmetry_checks.check_symmetry("matrix_factorisation", model, jax.random.key(seed))
    p = random_params(model, seed)
    on_slice = jax.jit(lambda q: geometry.project_to_slice(model.group, q))(p)
    assert np.abs(np.asarray(geometry.breaking(model.group, on_slice))).max() < 1e-4
    assert float(model.loss(on_slice)) == pytest.approx(float(model.loss(p)), rel=1e-4, abs=1e-5)
    sigma = np.linalg.svd(np.asarray(on_slice["U"] @ on_slice["V"].T, np.float64), compute_uv=False)[:rank]
    closed = float(np.sum(np.log(sigma[:, None] + sigma[None, :])))
    h = float(jnp.linalg.slogdet(geometry.orbit_gram(model.group, on_slice))[1])
    assert h == pytest.approx(closed, rel=1e-3, abs=1e-3)
    assert log_det_G(model, on_slice) == pytest.approx(closed, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("name", ["uv", "hadamard", "deep_scalar", "matrix_factorisation",
                                  pytest.param("relu", marks=pytest.mark.slow), "attention"])  # relu: 4 s
def test_dual_slice_det_G_equals_det_H_and_checks_pass(name):
    model = build(name)
    symmetry_checks.check_symmetry(name, model, jax.random.key(0))
    on_slice = geometry.project_to_slice(model.group, random_params(model, 3))
    assert np.abs(np.asarray(geometry.breaking(model.group, on_slice))).max() < 1e-4
    h = float(jnp.linalg.slogdet(geometry.orbit_gram(model.group, on_slice))[1])
    assert log_det_G(model, on_slice) == pytest.approx(h, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_deep_scalar_density_exponent(depth):
    """On the balanced slice, geometric log p(θ) = −L/T − (2(k−1)/k) log θ + const (module docstring)."""
    model = build("deep_scalar", depth=depth)
    temperature = 0.1
    reference = geometry.project_to_slice(model.group, model.init(jax.random.key(0)))
    curves = curves_lib.density_curves(model, reference, 0.0, 2.0, temperature, 0.0)
    theta = curves["value"]
    closed = np.exp(-0.5 * (theta - 1) ** 2 / temperature) * theta ** (-2 * (depth - 1) / depth)
    closed /= np.trapezoid(closed, theta)
    np.testing.assert_allclose(curves["geometric"], closed, rtol=1e-3)
    naive = np.exp(-0.5 * (theta - 1) ** 2 / temperature)
    assert np.abs(curves["naive"] - naive / np.trapezoid(naive, theta)).max() < 1e-6 * naive.max() + 1e-3
    assert np.abs(curves["geometric"] - curves["naive"]).max() > 0.1  # the correction is visible


def test_fibre_curve_of_uv_is_the_bessel_marginal():
    """The fibre form of langevin_ib.predictions.rescaling.fibre (convolution grid, generic chain) against u·v's own
    exact marginal e^{−L/T}·2K₀(λθ/T) (theory_uv, quadrature along the fibre): two independent
    routes to the same density. Tolerance 1e-3 relative: the grid's interpolation error in log g is
    below 3e-4 (test_conditionals), theory_uv's 24-node quadrature is closer than that."""
    model = build("uv", target=1.0)
    temperature, weight_decay = 0.1, 0.5
    reference = geometry.project_to_slice(model.group, model.init(jax.random.key(0)))
    curves = curves_lib.density_curves(model, reference, 0.0, 2.0, temperature, weight_decay, fibre.MARGINAL)
    theta = curves["value"]
    exact = theory_uv.marginal_density("geometric", theta, temperature=temperature, target=1.0,
                                       weight_decay=weight_decay)
    np.testing.assert_allclose(curves["geometric"], exact / np.trapezoid(exact, theta), rtol=1e-3)


ZOO = ["uv", "hadamard", "deep_scalar", "matrix_factorisation", "relu", "attention"]


@pytest.mark.parametrize("name", ZOO)
def test_conditional_densities_match_the_autodiff_geometry(name):
    """The closed-form level-set densities of langevin_ib.statistics.pit against the generic autodiff
    geometry, along the level set of χ through random parameters (χ ≠ 0): geometric − naive must be
    −½ log det G_χ − log J_φ and projected − naive must be −log J_φ, up to one constant each
    (the naive density is e^{−U/T} flat in the chart, J_φ dσ = dq)."""
    model = build(name)
    params = random_params(model, 7)
    log_density = level_set.log_densities(model, 0.1, 0.0)
    base = float(jnp.prod(jnp.stack([jnp.linalg.norm(f[0]) for f in model.chain.factors(params)])))

    def both(strength):
        moved, _ = level_set.along_level_set(model.chain, params, 0, strength)
        gram = geometry.log_det_breaking_gram(model.group, moved)
        jacobian = geometry.chart_log_jacobian(model.chart, model.group, moved)
        return log_density(params, 0, strength), jnp.stack([-0.5 * gram - jacobian, -jacobian])

    closed, autodiff = jax.jit(jax.vmap(both))(jnp.asarray(base * np.array([0.3, 0.7, 1.0, 1.6, 3.0]), jnp.float32))
    closed, autodiff = np.asarray(closed, np.float64), np.asarray(autodiff, np.float64)
    differences = np.stack([closed[:, 0] - closed[:, 1], closed[:, 2] - closed[:, 1]], axis=1) - autodiff
    np.testing.assert_allclose(differences - differences[0], 0.0, atol=2e-3)
    assert np.ptp(autodiff[:, 0]) > 0.1  # the factors vary along the level set: the check has teeth


@pytest.mark.slow
def test_chi_drift_classification():
    uv = build("uv")
    on = geometry.project_to_slice(uv.group, uv.init(jax.random.key(0)))
    key = jax.random.key(1)
    assert geometry.slice_stability(uv.loss, uv.group, on, 0.1, key)["label"] == "neutral"
    decayed = uv.potential(0.5)
    assert geometry.slice_stability(decayed, uv.group, on, 0.1, key)["label"] == "attracts"
    relu = build("relu", inputs=3, hidden=4, samples=8)
    p = relu.init(key)  # Δχ_j = d − 1, ∇χ·∇L = 0: drift T(d − 1) exactly
    np.testing.assert_allclose(geometry.breaking_drift(relu.loss, relu.group, p, 0.1), 0.2, rtol=1e-4)
    mf = build("matrix_factorisation", rows=5, cols=3, rank=2)
    np.testing.assert_allclose(geometry.breaking_drift(mf.loss, mf.group, mf.init(key), 0.1), 0.1 * (5 - 3), rtol=1e-3, atol=1e-5)


def test_bad_symmetries_are_named():
    uv = build("uv", init_noise=0.3)
    key = jax.random.key(0)
    not_invariant = uv._replace(loss=lambda p: uv.loss(p) + 0.1 * jnp.sum(p["u"] ** 2))
    with pytest.raises(symmetry_checks.SymmetryError, match="model tilted: the declared action does not preserve the loss"):
        symmetry_checks.check_symmetry("tilted", not_invariant, key)
    flat_chi = uv._replace(group=uv.group._replace(breaking=lambda p: 0.0 * p["u"] + 1.0))
    with pytest.raises(symmetry_checks.SymmetryError, match="model flat: the slice .* is not transverse"):
        symmetry_checks.check_symmetry("flat", flat_chi, key)
    collapsed = uv._replace(quotient_map=lambda p: jnp.zeros(1) * p["u"] * p["v"])
    with pytest.raises(symmetry_checks.SymmetryError, match="model collapsed: the quotient chart has a vanishing Jacobian"):
        symmetry_checks.check_symmetry("collapsed", collapsed, key)


def test_laplacian_is_the_hessian_trace_without_the_hessian():
    """geometry.slice.laplacian against jnp.trace(jax.hessian) on a non-quadratic vector function, and its
    compiled memory for the paper's Fig. 6 group (dim 200, d = 400): the Hessian alone would be
    200·400²·4 B = 128 MB (predict ran out of memory at 26 GB with it), the Jacobian of χ 64 MB; one
    direction at a time needs < 16 MB."""
    from langevin_ib.geometry.slice import laplacian

    fn = lambda x: jnp.stack([jnp.sum(jnp.sin(x) * x**2), jnp.prod(jnp.cos(x[:3])), jnp.sum(x**3)])
    x = jax.random.normal(jax.random.key(0), (5,))
    np.testing.assert_allclose(laplacian(fn, x), jnp.trace(jax.hessian(fn)(x), axis1=1, axis2=2), rtol=1e-5, atol=1e-5)
    hadamard = build("hadamard", size=200, operator="difference", measurements=60, signal="piecewise",
                     segments=[50, 70, 40, 40], levels=[1.0, -1.5, 0.5, 2.0], init="gaussian", init_scale=0.3)
    params = hadamard.init(jax.random.key(1))
    compiled = jax.jit(lambda p: geometry.breaking_drift(hadamard.loss, hadamard.group, p, 0.1)).lower(params).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 16 * 2**20

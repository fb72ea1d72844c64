"""The paper's Figs. 3–4 set-ups (docs/paper.md): attention's value width, column imbalance (eqs. 65–66)
and random global factor on Q; matrix completion's readout (sorted σ_i(UVᵀ), per-column ‖U_j‖/‖V_j‖).

Exact checks on the construction: the imbalance multiplies each column's ‖Q_j‖/‖K_j‖ by s_j² and the
query factor g = ¼ + |z′|/4 multiplies every column's by the same g ≥ ¼ (float32, rtol 1e-5); the
completion readout at a balanced exact factorisation of T* returns its singular values (15, 5, 0, …),
ratios 1 on its two modes and zero error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib import models
from langevin_ib.models import matrix_factorisation, relu
from langevin_ib.models.fields import section

FIG3 = {"dim": 16, "rank": 8, "length": 8, "value_width": 8, "samples": 8, "teacher_scale": 0.75, "init_scale": 0.1,
        "fresh_data": True}


def build(name, **cfg):
    return models.REGISTRY[name].build(section("model", cfg, models.REGISTRY[name].FIELDS))


def ratios(model, key):
    return np.asarray(model.readout.of(model.init(key))["ratio"], np.float64)


@pytest.mark.parametrize("seed", range(3))
def test_attention_imbalance_and_query_factor(seed):
    key = jax.random.key(seed)
    plain, imbalanced = build("attention", **FIG3), build("attention", **FIG3, imbalance=1.2)
    factored = build("attention", **FIG3, imbalance=1.2, query_factors=True)
    s = np.asarray(relu.imbalance_factors(8, 1.2), np.float64)
    np.testing.assert_allclose(ratios(imbalanced, key) / ratios(plain, key), s**2, rtol=1e-5)
    g = ratios(factored, key) / ratios(imbalanced, key)
    np.testing.assert_allclose(g, g[0], rtol=1e-5)
    assert g[0] >= 0.25
    assert plain.init(key)["Vv"].shape == (16, 8)


def test_completion_readout_at_the_balanced_truth():
    cfg = section("model", {"rows": 20, "cols": 20, "rank": 20, "singular_values": [15.0, 5.0], "observed": 0.2},
                  matrix_factorisation.FIELDS)
    target, _ = matrix_factorisation.data(cfg)
    left, sigma, right_t = np.linalg.svd(target)
    root = np.sqrt(sigma)
    model = matrix_factorisation.build(cfg)
    out = model.readout.of({"U": jnp.asarray(left * root, jnp.float32), "V": jnp.asarray(right_t.T * root, jnp.float32)})
    np.testing.assert_allclose(np.asarray(out["sigma"])[:3], [15.0, 5.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["ratio"])[:2], 1.0, rtol=1e-5)
    assert float(out["reconstruction_mse"]) < 1e-9 and float(out["unobserved_mse"]) < 1e-9
    np.testing.assert_array_equal(model.readout.truth["sigma"][:3], [15.0, 5.0, 0.0])

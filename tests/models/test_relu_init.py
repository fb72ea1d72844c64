"""The paper's Fig. 2 initialisation of the ReLU teacher–student (eqs. 62–63, docs/paper.md): the
imbalance is a pure rescaling (the quotient v_j W_j and the loss unchanged, each ratio |v_j|/‖W_j‖
divided by s_j² exactly), the scales set the entries' spread, and the defaults leave the model as before."""

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib import models
from langevin_ib.models import relu
from langevin_ib.models.fields import section

PAPER = {"hidden": 16, "teacher_hidden": 16, "teacher_scale": 1.5, "init_scale": 0.05, "fresh_data": True}


def build(**cfg):
    return models.REGISTRY["relu"].build(section("model", cfg, relu.FIELDS))


def test_imbalance_is_a_rescaling_with_the_papers_factors():
    plain, tilted = build(**PAPER), build(**PAPER, imbalance=1.2)
    key = jax.random.key(3)
    p, q = plain.init(key), tilted.init(key)
    s = np.exp(2 * 1.2 * np.arange(16) / 15 - 1.2)  # eq. 63, j = 1…16
    ratio = lambda x: np.abs(x["v"]) / np.linalg.norm(x["W"], axis=1)
    np.testing.assert_allclose(ratio(q), ratio(p) / s**2, rtol=1e-5)
    np.testing.assert_allclose(tilted.quotient_map(q), plain.quotient_map(p), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(tilted.loss(q), plain.loss(p), rtol=1e-5)
    assert ratio(q).max() / ratio(q).min() > 50  # spread over decades, as the paper intends


def test_scales_set_the_entries_spread():
    # 64 teacher and 64 student entries: the sample sd is within 4 standard errors (sd/√(2n) ≈ 9%) of the scale
    student = build(**PAPER).init(jax.random.key(0))
    entries = np.concatenate([np.ravel(x) for x in jax.tree.leaves(student)])
    assert abs(entries.std() / 0.05 - 1) < 4 / np.sqrt(2 * entries.size)


def test_defaults_keep_flax_initialisers():
    key = jax.random.key(5)
    flax_init = relu.from_flax(relu.TwoLayerReLU(16).init(key, jnp.zeros((1, 3))))
    jax.tree.map(np.testing.assert_array_equal, build(hidden=16).init(key), flax_init)
    assert not np.allclose(build(hidden=16, init_scale=0.05).init(key)["W"], flax_init["W"])

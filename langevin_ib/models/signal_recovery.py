"""A linear signal-recovery problem (the paper's eqs. 67–71, docs/paper.md): recover x* from y = M x* + ε.

The predictor is the signal x = S c of coefficients c (x ∈ R^p, c ∈ R^size): c = u⊙v in the
Hadamard-factored model (:mod:`.hadamard`), c = w in the plain-weights baseline (:mod:`.plain_signal`).
``operator`` is the synthesis S: ``identity``, ``difference`` (S = cumsum, the inverse of the discrete
gradient A = ∇) or a path to a ``.npy`` matrix of shape (p, size). The analysis operator A = S⁺ is
where eq. 16 puts the bias Σ log|(A x)_i| (:mod:`langevin_ib.predictions.implied_bias`).
``design`` is the measurement M: ``gaussian`` rows N(0, 1/m) (M = I when ``measurements`` = 0) or
``cosine``, rows cos(2πk t_i), k = 0…p−1, t_i ~ U(0, 1) (eq. 67), with ``test_points`` fresh t for the
test MSE. The target x* is ``sparse`` (``nonzeros`` entries among indices ≥ ``support_from``,
magnitudes U[target, target + target_spread], signs ``positive`` or ``random``) or ``piecewise``
(``segments`` of lengths summing to p at ``levels``). Loss ½·mean((M x − y)²); data: the rows (M_i, y_i).
The draw from ``data_seed`` is :func:`arrays` (host, numpy) and a model reads it only through its
``bind(cfg, arrays, dtype)``, so a sweep over ``data_seed`` passes each point's arrays as data of one
compiled program (docs/sweeps.md); ``build(cfg)`` is ``bind(cfg, arrays(cfg))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

from langevin_ib.models.data import Data
from langevin_ib.base import ConfigError
from langevin_ib.models.fields import Field, non_negative, positive
from langevin_ib.models.readout import Readout

FIELDS = {
    "size": positive(int, 8),
    "operator": Field(str, "identity", "identity, difference or a path to a .npy synthesis matrix (p, size)",
                      check=lambda x: x in ("identity", "difference") or x.endswith(".npy")),
    "design": Field(str, "gaussian", choices=("gaussian", "cosine")),
    "measurements": non_negative(int, 0),
    "test_points": positive(int, 10_000),
    "signal": Field(str, "sparse", choices=("sparse", "piecewise")),
    "nonzeros": positive(int, 2),
    "support_from": non_negative(int, 0),
    "target": Field(float, 1.0, "the magnitude of x*'s non-zero entries (a float)"),
    "target_spread": non_negative(float, 0.0),
    "signs": Field(str, "positive", choices=("positive", "random")),
    "segments": Field(list, [], "a list of positive segment lengths summing to the signal length",
                      check=lambda x: all(isinstance(n, int) and n > 0 for n in x)),
    "levels": Field(list, [], "a list of floats, one level per segment",
                    check=lambda x: all(isinstance(v, (int, float)) and np.isfinite(v) for v in x)),
    "noise": non_negative(float, 0.0),
    "data_seed": non_negative(int, 0),
    "init": Field(str, "jittered", choices=("jittered", "gaussian")),
    "init_scale": positive(float, 1.0),
    "init_noise": non_negative(float, 0.1),
}
PLOT_POINTS = 256  # t grid of a cosine design's fitted curve


class Problem(NamedTuple):
    """The problem's arrays (numpy): S (p, size), M (m, p), y (m,), x* (p,), test rows (k, p) or None."""

    synthesis: np.ndarray
    design: np.ndarray
    labels: np.ndarray
    signal: np.ndarray
    test: np.ndarray | None


def synthesis_matrix(cfg: dict) -> np.ndarray:
    """S of ``operator``; a ConfigError naming the field for a missing, unreadable or misshapen file."""
    n = cfg["size"]
    if cfg["operator"] == "identity":
        return np.eye(n)
    if cfg["operator"] == "difference":
        return np.tril(np.ones((n, n)))
    path = Path(cfg["operator"])
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ConfigError(f"model.operator: cannot read {str(path)!r} ({err}); expected identity, difference or "
                          "a .npy file holding a float matrix") from None
    if matrix.ndim != 2 or matrix.shape[1] != n or not np.issubdtype(matrix.dtype, np.number):
        raise ConfigError(f"model.operator: {str(path)!r} holds an array of shape {matrix.shape}; expected a numeric "
                          f"matrix of shape (p, model.size={n})")
    if not np.all(np.isfinite(matrix)) or np.linalg.matrix_rank(matrix) < n:
        raise ConfigError(f"model.operator: {str(path)!r} is not an injective finite matrix (rank "
                          f"{np.linalg.matrix_rank(matrix) if np.all(np.isfinite(matrix)) else 'undefined'} < "
                          f"model.size={n}); the bias of eq. 16 needs S injective")
    return matrix.astype(np.float64)


def target_signal(cfg: dict, p: int, rng: np.random.Generator) -> np.ndarray:
    """x* of ``signal`` (sparse draws from ``rng``); a ConfigError where segments and levels do not fit."""
    if cfg["signal"] == "piecewise":
        segments, levels = cfg["segments"], cfg["levels"]
        if not segments or len(segments) != len(levels) or sum(segments) != p:
            raise ConfigError(f"model.segments: got {segments} (sum {sum(segments)}) with {len(levels)} levels; "
                              f"expected positive lengths summing to the signal length {p}, one model.levels entry each")
        return np.repeat(np.asarray(levels, np.float64), segments)
    if cfg["support_from"] >= p:
        raise ConfigError(f"model.support_from: got {cfg['support_from']}; expected less than the signal length {p}")
    signal = np.zeros(p)
    support = cfg["support_from"] + rng.choice(p - cfg["support_from"], min(cfg["nonzeros"], p - cfg["support_from"]),
                                               replace=False)
    signal[support] = cfg["target"]
    if cfg["target_spread"] or cfg["signs"] == "random":
        magnitudes = cfg["target"] + cfg["target_spread"] * rng.uniform(size=support.size)
        signs = rng.choice([-1.0, 1.0], size=support.size) if cfg["signs"] == "random" else 1.0
        signal[support] = signs * magnitudes
    return signal


def cosine_rows(t: np.ndarray, p: int) -> np.ndarray:
    """cos(2πk t_i), k = 0…p−1 (eq. 67)."""
    return np.cos(2 * np.pi * np.outer(t, np.arange(p)))


def problem(cfg: dict) -> Problem:
    """The arrays of the problem, drawn once from ``data_seed`` (x*, then M, then ε, then test t)."""
    rng = np.random.default_rng(cfg["data_seed"])
    synthesis = synthesis_matrix(cfg)
    p, m = synthesis.shape[0], cfg["measurements"]
    signal = target_signal(cfg, p, rng)
    if cfg["design"] == "cosine":
        if m == 0:
            raise ConfigError("model.measurements: got 0; expected a positive number of sampled t for design cosine")
        design = cosine_rows(rng.uniform(size=m), p)
    else:
        design = np.eye(p) if m == 0 else rng.standard_normal((m, p)) / np.sqrt(m)
    labels = design @ signal + cfg["noise"] * rng.standard_normal(design.shape[0])
    test = cosine_rows(rng.uniform(size=cfg["test_points"]), p) if cfg["design"] == "cosine" else None
    return Problem(synthesis, design, labels, signal, test)


def arrays(cfg: dict) -> dict:
    """The arrays the draw from ``data_seed`` gives (numpy, float64): the design M, labels y, target x*
    and, for a cosine design, the Gram CᵀC/k of the k test rows (the test MSE's only use of them)."""
    prob = problem(cfg)
    out = {"design": prob.design, "labels": prob.labels, "signal": prob.signal}
    if prob.test is not None:
        out["gram"] = prob.test.T @ prob.test / prob.test.shape[0]
    return out


def total_variation(x):
    """Σ_i |x_{i+1} − x_i|."""
    return jnp.sum(jnp.abs(jnp.diff(x)))


def regression(data: dict, predictor: Callable, dtype) -> tuple[Callable, Data]:
    """(loss, data): L = ½·mean((M x − y)²) with x = ``predictor(params)``, and the rows (M_i, y_i) of
    :func:`arrays` ``data`` (numpy, or traced)."""
    design, labels = jnp.asarray(data["design"], dtype), jnp.asarray(data["labels"], dtype)

    def loss(params):
        return 0.5 * jnp.mean((design @ predictor(params) - labels) ** 2)

    def example_loss(params, example):
        return 0.5 * (example["row"] @ predictor(params) - example["label"]) ** 2

    return loss, Data(example_loss, examples={"row": design, "label": labels})


def readout(cfg: dict, data: dict, predictor: Callable, dtype) -> Readout:
    """Per chain: train MSE mean((Mx − y)²), reconstruction MSE mean((x − x*)²), total variation of x, test
    MSE mean((C(x − x*))²) on the test rows C (cosine design, via the Gram CᵀC/k); profiles: the signal x,
    the fitted curve. The reference (the truth, for the host's analysis) is left empty where ``data`` is
    traced (a sweep's per-point arrays, of which the grid reads only ``of``)."""
    design, labels = jnp.asarray(data["design"], dtype), jnp.asarray(data["labels"], dtype)
    truth = jnp.asarray(data["signal"], dtype)
    # mean((C d)²) = dᵀ(CᵀC/k)d: a (p, p) Gram instead of the (k, p) test rows, so memory stays O(p²) per run
    gram = jnp.asarray(data["gram"], dtype) if "gram" in data else None
    rows = cosine_rows(np.linspace(0.0, 1.0, PLOT_POINTS), truth.shape[0]) if cfg["design"] == "cosine" else None
    plot = None if rows is None else jnp.asarray(rows, dtype)

    def of(params) -> dict:
        x = predictor(params)
        out = {"train_mse": jnp.mean((design @ x - labels) ** 2), "reconstruction_mse": jnp.mean((x - truth) ** 2),
               "total_variation": total_variation(x), "signal": x}
        if gram is not None:
            out.update(test_mse=(x - truth) @ gram @ (x - truth), fit=plot @ x)
        return out

    if not isinstance(data["signal"], np.ndarray):
        return Readout(of, {})
    signal = data["signal"]
    reference = {"signal": signal, "total_variation": float(np.sum(np.abs(np.diff(signal))))}
    if rows is not None:
        reference["fit"] = rows @ signal
    return Readout(of, reference)

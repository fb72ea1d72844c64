"""The implicit bias a Hadamard factorisation implies on the signal (paper eq. 16, docs/theory.md).

For x = S(u⊙v) with S injective, minimising L_IB = (T/2)Σ log(u_i² + v_i²) (eq. 15) over the orbit
(the balanced point |u_i| = |v_i|) leaves the pulled-back penalty on the signal

    R(x) = (T/2) Σ_{i: (Ax)_i ≠ 0} log|(A x)_i| + const,   A = S⁺ (the analysis operator, A S = I),

so S = I favours sparse x (Σ log|x_i|) and S = cumsum favours sparse ∇x (a total-variation-like bias).
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 1e-9  # |(Ax)_i| at or below this (relative to max |(Ax)_i|) counts as a zero feature


def analysis_operator(synthesis: np.ndarray) -> np.ndarray:
    """A = S⁺, the left inverse of an injective S: the features z = A x that carry the bias."""
    return np.linalg.pinv(np.asarray(synthesis, np.float64))


def name(synthesis: np.ndarray) -> str:
    """The penalty in words for the recognisable operators (identity, cumsum), else in A = S⁺."""
    n = synthesis.shape[1]
    if synthesis.shape == (n, n) and np.array_equal(synthesis, np.eye(n)):
        return "sum_i log|x_i| (A = I: sparsity of the signal)"
    if synthesis.shape == (n, n) and np.array_equal(synthesis, np.tril(np.ones((n, n)))):
        return "log|x_0| + sum_i log|x_i - x_(i-1)| (A = discrete gradient: sparsity of the jumps, TV-like)"
    return "sum_i log|(A x)_i|, A = S^+ the pseudo-inverse of the synthesis matrix S"


def log_penalty(synthesis: np.ndarray, signal: np.ndarray) -> tuple[float, int]:
    """(Σ_{(Ax)_i ≠ 0} log|(A x)_i|, the number of non-zero features) at ``signal``; R = (T/2)·the first."""
    features = np.abs(analysis_operator(synthesis) @ np.asarray(signal, np.float64))
    nonzero = features > TOLERANCE * max(features.max(initial=0.0), 1.0)
    return float(np.sum(np.log(features[nonzero]))), int(nonzero.sum())


def summary(synthesis: np.ndarray, target: np.ndarray, temperature: float) -> dict:
    """prediction.json's ``implied_bias``: the penalty, its coefficient T/2 and its value at the target."""
    value, features = log_penalty(synthesis, target)
    return {"penalty": f"R(x) = (T/2) * [{name(synthesis)}] (paper eq. 16)", "coefficient": 0.5 * temperature,
            "log_penalty_at_target": value, "nonzero_features_at_target": features,
            "features": int(synthesis.shape[1]),
            "note": "T is the noise temperature; for SGD/GD runs T = 0 here and the run's effective temperature "
                    "(summary.json effective_temperature) sets the coefficient"}

"""The exact stationary covariance of SGD/SGLD on linear-Gaussian regression (docs/sgd.md).

L(w) = ½E[(xᵀw − y)²], x ~ N(0, S) fresh each step, y = xᵀw* + σε. With e = w − w*, a step of
batch B, w' = w − η g_B + √(2ηT)ξ, is e' = (I − ηA_B)e + ηb_B + √(2ηT)ξ, A_B = (1/B)Σ x_b x_bᵀ,
b_B = (1/B)Σ x_b ε_b σ. Gaussian fourth moments, E[x xᵀ C x xᵀ] = 2SCS + tr(SC)S, give
E[A_B C A_B] = SCS + (SCS + tr(SC)S)/B, so the mean decays as (I − ηS)ᵗ and the stationary
covariance solves the discrete Lyapunov-type equation

    C = (I − ηS)C(I − ηS) + (η²/B)(SCS + tr(SC)S + σ²S) + 2ηT·I,

linear in C and solved by vectorisation (d² unknowns). It exists when the second-moment map is a
contraction (for S = I: η(1 + (1 + d)/B) < 2), where C = (ησ²/B + 2T)/(2 − η − η(1 + d)/B)·I.
For η → 0 it tends to (η/2B)(σ² + tr SC)·I + T S⁻¹: minibatch noise, whose covariance is ∝ S,
spreads e isotropically, whereas isotropic Langevin at any temperature gives C = T S⁻¹.
"""

from __future__ import annotations

import numpy as np

LAW = "linear_regression"  # the closed form a linear-Gaussian regression model declares (models/linear.py)


def stationary_covariance(covariance: np.ndarray, step_size: float, batch_size: int, label_noise: float,
                          temperature: float = 0.0) -> np.ndarray:
    """C solving the equation of the module docstring (float64), for input covariance S = ``covariance``."""
    s = np.asarray(covariance, np.float64)
    d = s.shape[0]
    eye, contraction = np.eye(d), np.eye(d) - step_size * s
    vec_s = s.reshape(-1)
    operator = (np.eye(d * d) - np.kron(contraction, contraction)
                - step_size**2 / batch_size * (np.kron(s, s) + np.outer(vec_s, vec_s)))
    source = step_size**2 * label_noise**2 / batch_size * vec_s + 2 * step_size * temperature * eye.reshape(-1)
    solution = np.linalg.solve(operator, source).reshape(d, d)
    return 0.5 * (solution + solution.T)


def naive_temperature(covariance: np.ndarray, step_size: float, batch_size: int, label_noise: float,
                      temperature: float = 0.0) -> float:
    """The 'effective temperature' T + ησ²·tr(S)/(2Bd): isotropic noise 2ηT_eff per coordinate with the
    total variance η²σ²tr(S)/B of the minibatch gradient at the minimum (ησ²/(2B) for S = I)."""
    s = np.asarray(covariance, np.float64)
    return temperature + step_size * label_noise**2 * np.trace(s) / (2 * batch_size * s.shape[0])


def langevin_covariance(covariance: np.ndarray, temperature: float) -> np.ndarray:
    """T·S⁻¹, the stationary covariance of Langevin dynamics on L (continuous time)."""
    return temperature * np.linalg.inv(np.asarray(covariance, np.float64))


def second_moments(deviation: np.ndarray) -> np.ndarray:
    """(n, d(d+1)/2): the upper triangle (row-major, diagonal included) of e eᵀ for each row e of (n, d)."""
    rows, cols = np.triu_indices(deviation.shape[1])
    return deviation[:, rows] * deviation[:, cols]


def predicted_second_moments(covariance: np.ndarray, step_size: float, batch_size: int, label_noise: float,
                             temperature: float = 0.0) -> dict[str, np.ndarray]:
    """Per hypothesis, E[e eᵀ]'s upper triangle (as :func:`second_moments`) at stationarity: ``sgd``
    the exact covariance (:func:`stationary_covariance`); ``langevin`` T_eff·S⁻¹, Langevin at the naive
    effective temperature (:func:`naive_temperature`), isotropic noise where SGD's is ∝ S."""
    rows, cols = np.triu_indices(np.shape(covariance)[0])
    laws = {"sgd": stationary_covariance(covariance, step_size, batch_size, label_noise, temperature),
            "langevin": langevin_covariance(covariance, naive_temperature(covariance, step_size, batch_size,
                                                                          label_noise, temperature))}
    return {name: law[rows, cols] for name, law in laws.items()}

"""Matrix factorisation X = UVᵀ for matrix completion (paper §"Inverse design", eqs. 18, 55–58).

U is rows × rank, V cols × rank; the target is a rank-``len(singular_values)`` matrix with the
given singular values, observed on a ``observed`` fraction of entries (fixed by ``data_seed``);
L = ½·Σ_observed (UVᵀ − X*)² / #observed. Symmetry: column scaling (U_j, V_j) ↦ (e^{a_j}U_j,
e^{−a_j}V_j); χ_j = ½(‖U_j‖² − ‖V_j‖²); G_χ = diag(‖U_j‖² + ‖V_j‖²) at any point, so L_IB =
(T/2)Σ log(‖U_j‖² + ‖V_j‖²), eq. (58) on the singular-mode slice. (Eq. 56 prints off-diagonal
entries U_iᵀU_j + V_iᵀV_j; for column scaling the gradients of χ_i and χ_j live in different
columns and the off-diagonal entries vanish.) Observables: singular values of UVᵀ, the column
strengths ‖U_j‖‖V_j‖ (the singular values when the columns are orthogonal), χ, and the mode
energies ½(‖U_j‖² + ‖V_j‖²) (:mod:`langevin_ib.predictions.general_linear.mode_energies`).
The quotient chart is the list of rank-one terms U_j V_jᵀ. Data: the finite set of observed entries
(i, j, X*_ij), ℓ = ½(U_i·V_j − X*_ij)², whose mean is L exactly (for at least one observed entry).

``symmetry: general_linear`` declares the full GL(r) action (U, V) ↦ (U e^{a}, V e^{−aᵀ}),
a ∈ gl(r), instead. Its canonical χ would vanish identically on the antisymmetric generators, so the
model supplies χ = (½(UᵀU − VᵀV) on and above the diagonal, (UᵀU + VᵀV) above it): the slice
UᵀU = VᵀV diagonal, i.e. U = P√Σ, V = Q√Σ from the SVD UVᵀ = PΣQᵀ (the singular-mode slice of
eq. 58), transverse where the singular values are distinct. The orbit Gram is the Kronecker sum
H = UᵀU ⊕ VᵀV, so det H = Π_{i,j}(σ_i + σ_j) on that slice. The quotient chart is UVᵀ itself; the
columns of U and V are declared as the singular ``modes`` (:mod:`langevin_ib.predictions.general_linear.singular_modes`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.models.base import GroupAction
from langevin_ib.models import rescaling
from langevin_ib.models.base import Model
from langevin_ib.models.data import Data
from langevin_ib.models.fields import Field, non_negative, positive
from langevin_ib.models.readout import Readout

FIELDS = {
    "rows": positive(int, 6),
    "cols": positive(int, 6),
    "rank": positive(int, 2),
    "singular_values": Field(list, [3.0, 1.0], "a list of positive floats (the target's spectrum)",
                             lambda s: len(s) > 0 and all(isinstance(x, (int, float)) and x > 0 for x in s)),
    "observed": Field(float, 1.0, "a fraction in (0, 1]", lambda f: 0 < f <= 1),
    "data_seed": non_negative(int, 0),
    "init_scale": positive(float, 1.0),
    "symmetry": Field(str, "column", choices=("column", "general_linear")),
}
OBSERVABLES = ("sigma", "strength", "chi", "mode_energy")


def data(cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """(X*, mask) drawn once from ``data_seed``."""
    rng = np.random.default_rng(cfg["data_seed"])
    k = len(cfg["singular_values"])
    left = np.linalg.qr(rng.standard_normal((cfg["rows"], k)))[0]
    right = np.linalg.qr(rng.standard_normal((cfg["cols"], k)))[0]
    mask = rng.random((cfg["rows"], cfg["cols"])) < cfg["observed"]
    return left @ np.diag(cfg["singular_values"]) @ right.T, mask


def build(cfg: dict, dtype=jnp.float32) -> Model:
    rows, cols, rank = cfg["rows"], cfg["cols"], cfg["rank"]
    target, mask = (jnp.asarray(x, dtype) for x in data(cfg))
    count = jnp.maximum(mask.sum(), 1.0)

    def init(key: jax.Array) -> dict:
        ku, kv = jax.random.split(key)
        scale = cfg["init_scale"] / np.sqrt(rank)
        return {"U": scale * jax.random.normal(ku, (rows, rank), dtype),
                "V": scale * jax.random.normal(kv, (cols, rank), dtype)}

    def loss(params: dict) -> jax.Array:
        return 0.5 * jnp.sum(mask * (params["U"] @ params["V"].T - target) ** 2) / count

    def observe(params: dict) -> dict:
        U, V = params["U"], params["V"]
        return {"sigma": jnp.linalg.svd(U @ V.T, compute_uv=False)[:rank],
                "strength": jnp.linalg.norm(U, axis=0) * jnp.linalg.norm(V, axis=0),
                "chi": 0.5 * (jnp.sum(U**2, axis=0) - jnp.sum(V**2, axis=0)),
                "mode_energy": 0.5 * (jnp.sum(U**2, axis=0) + jnp.sum(V**2, axis=0))}

    def example_loss(params: dict, example: dict) -> jax.Array:
        return 0.5 * (params["U"][example["row"]] @ params["V"][example["col"]] - example["value"]) ** 2

    row, col = np.nonzero(np.asarray(mask))
    source = Data(example_loss, examples={"row": jnp.asarray(row), "col": jnp.asarray(col),
                                          "value": target[row, col]})

    readout = completion_readout(target, mask, cfg["singular_values"], rank)

    def rank_one_terms(params: dict) -> jax.Array:
        return jnp.einsum("ij,kj->jik", params["U"], params["V"])

    if cfg["symmetry"] == "general_linear":
        return Model(init, loss, observe, quotient="sigma", symmetry="chi", group=general_linear(rank), data=source,
                     quotient_map=lambda params: params["U"] @ params["V"].T,
                     modes=rescaling.pair("U", "V", rank, up_axis=1, down_axis=1, observable="sigma"), readout=readout)
    return Model(init, loss, observe, quotient="sigma", symmetry="chi", data=source,
                 **rescaling.declare(rescaling.pair("U", "V", rank, up_axis=1, down_axis=1)),
                 quotient_map=rank_one_terms, readout=readout)


def completion_readout(target: jax.Array, mask: jax.Array, singular_values: list, rank: int) -> Readout:
    """Per chain (the paper's Fig. 4 panels, docs/paper.md): the sorted singular values σ_i(UVᵀ) against
    the target's (zeros past its rank), the per-column ratios ‖U_j‖/‖V_j‖ (truth 1, the balanced
    factorisation), and the MSE over observed, unobserved and all entries."""
    observed = mask.astype(target.dtype)

    def of(params: dict) -> dict:
        U, V = params["U"], params["V"]
        error = (U @ V.T - target) ** 2
        return {"sigma": jnp.linalg.svd(U @ V.T, compute_uv=False)[:rank],
                "ratio": jnp.linalg.norm(U, axis=0) / jnp.linalg.norm(V, axis=0),
                "train_mse": jnp.sum(observed * error) / jnp.maximum(observed.sum(), 1.0),
                "unobserved_mse": jnp.sum((1 - observed) * error) / jnp.maximum((1 - observed).sum(), 1.0),
                "reconstruction_mse": jnp.mean(error)}

    truth = np.zeros(rank)
    spectrum = sorted(singular_values, reverse=True)[:rank]
    truth[:len(spectrum)] = spectrum
    return Readout(of, {"sigma": truth, "ratio": np.ones(rank)})


def general_linear(rank: int) -> GroupAction:
    """GL(r) acting as (U, V) ↦ (U e^{a}, V e^{−aᵀ}) with the singular-mode slice as χ (module docstring)."""
    upper, strictly_upper = np.triu_indices(rank), np.triu_indices(rank, 1)

    def act(a: jax.Array, params: dict) -> dict:
        generator = a.reshape(rank, rank)
        return {"U": params["U"] @ jax.scipy.linalg.expm(generator),
                "V": params["V"] @ jax.scipy.linalg.expm(-generator.T)}

    def breaking(params: dict) -> jax.Array:
        left, right = params["U"].T @ params["U"], params["V"].T @ params["V"]
        return jnp.concatenate([0.5 * (left - right)[upper], (left + right)[strictly_upper]])

    return GroupAction(act, rank * rank, breaking)

"""What a simulation returns: one :class:`RunResult` per grid point (:mod:`langevin_ib.dynamics.grid`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from langevin_ib.dynamics import accumulators as hist_lib
from langevin_ib.dynamics.kernel import CHI_QUANTILES, ChainState, Kernel

ChunkStatistic = Callable[[Kernel, ChainState], Any]  # (kernel, state) -> pytree of arrays


@dataclasses.dataclass
class RunResult:
    histograms: hist_lib.Histograms  # numpy arrays
    binnings: dict
    joint: tuple[str, str] | None
    chunk_statistics: dict  # name -> {"step": (n,), "value": its pytree, each leaf stacked over the n boundaries}
    diverged: int
    diverged_at: np.ndarray  # steps at which chains diverged
    final_state: ChainState
    chain_statistics: np.ndarray | None  # (chains, k): per-chain sums of the statistics over snapshots
    statistic_snapshots: int
    compile_seconds: float
    run_seconds: float
    chain_steps: int
    symmetry: str | None = None  # the model's χ, whose trace is chunk_statistics["chi"]

    @property
    def chi_trace(self) -> dict:
        """name, step, mean, quantiles (len(steps), len(CHI_QUANTILES)) of χ over alive chains."""
        if "chi" not in self.chunk_statistics:
            return {"name": self.symmetry, "step": np.zeros(0, np.int64), "mean": np.zeros(0),
                    "quantiles": np.zeros((0, len(CHI_QUANTILES)))}
        mean, quantiles = self.chunk_statistics["chi"]["value"]
        return {"name": self.symmetry, "step": self.chunk_statistics["chi"]["step"], "mean": mean, "quantiles": quantiles}

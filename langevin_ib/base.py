"""Types shared across the layers, below all of them: a histogram's binning and the config error."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ConfigError(ValueError):
    """A user mistake in a config or an override; the message names the field."""


class Binning(NamedTuple):
    low: float
    high: float
    bins: int

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.low, self.high, self.bins + 1)

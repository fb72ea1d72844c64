"""End-of-run readouts of a model: per-chain metrics and profiles against the truth (docs/paper.md).

``of(params)`` (one chain) returns named scalars (metrics such as a test MSE) and 1-D arrays (profiles
such as the recovered signal); the experiment layer takes their quantiles over chains. ``truth`` holds
the ground truth under the same names where one exists (the target signal, its total variation).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Readout(NamedTuple):
    of: Callable[[Any], dict]
    truth: dict

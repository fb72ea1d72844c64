"""A handle that compares by identity, so that an unhashable object (a model or an integrator: NamedTuples
of arrays and functions) can be a static argument of ``jax.jit``: one compiled function per object and
argument shapes, whatever values its traced arguments take."""

from __future__ import annotations

from typing import Any


class ByIdentity:
    """``ByIdentity(x) == ByIdentity(y)`` iff ``x is y``; ``.value`` is the object."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByIdentity) and other.value is self.value

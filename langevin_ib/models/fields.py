"""Typed config fields with checks; errors name the field and what it accepts."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

from langevin_ib.base import ConfigError

REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class Field:
    """One config entry: its type, default and the condition its value must meet."""

    kind: type
    default: Any = REQUIRED
    accepted: str = ""
    check: Callable[[Any], bool] | None = None
    choices: tuple | None = None
    finite: bool = True  # False: ±inf accepted (a bound that may be absent); NaN never

    def convert(self, name: str, value: Any) -> Any:
        what = self.accepted or (f"one of {list(self.choices)}" if self.choices else f"a {self.kind.__name__}")
        if self.kind in (int, float):
            value = _number(name, value, self.kind, what, self.finite)
        ok_type = {
            float: isinstance(value, float),
            int: isinstance(value, int) and not isinstance(value, bool),
            bool: isinstance(value, bool),
            str: isinstance(value, str),
            list: isinstance(value, list),
            dict: isinstance(value, Mapping),
        }[self.kind]
        if not ok_type:
            raise ConfigError(f"{name}: got {_short(value)} ({type(value).__name__}); expected {what}")
        value = self.kind(value)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{name}: got {_short(value)}; accepted values are {list(self.choices)}")
        if self.check is not None and not _holds(self.check, value):
            raise ConfigError(f"{name}: got {_short(value)}; expected {what}")
        return value


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= limit else text[:limit] + "..."


def _holds(check: Callable[[Any], bool], value: Any) -> bool:
    """check(value), False where the check cannot even be evaluated (e.g. a list of lists)."""
    try:
        return bool(check(value))
    except (TypeError, ValueError, ArithmeticError):
        return False


def _number(name: str, value: Any, kind: type, what: str, finite: bool = True) -> Any:
    """A finite float, or an int (integral floats and strings such as 1e3 included; YAML 1.1 reads
    1e3 as a string); other values are returned unchanged for the type check to refuse."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return value
    if isinstance(value, str):
        try:
            value = float(value) if kind is float or not value.strip().lstrip("+-").isdigit() else int(value)
        except ValueError:
            return value
    if isinstance(value, float) and (math.isnan(value) or (finite and math.isinf(value))):
        raise ConfigError(f"{name}: got {value!r}; expected {what} ({'a finite number' if finite else 'a number, not nan'})")
    if kind is float:
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{name}: got {_short(value)}; expected {what} (a finite number)") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"{name}: got {value!r}; expected {what} (a whole number such as 1000 or 1e3)")
        return int(value)
    return value


def positive(kind: type, default: Any = REQUIRED, finite: bool = True) -> Field:
    return Field(kind, default, f"a positive {kind.__name__}", lambda x: x > 0, finite=finite)


def non_negative(kind: type, default: Any = REQUIRED) -> Field:
    return Field(kind, default, f"a non-negative {kind.__name__}", lambda x: x >= 0)


def section(name: str, raw: Any, schema: Mapping[str, Field]) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{name}: expected a mapping with keys {sorted(schema)}, got {_short(raw)}")
    unknown = sorted(map(str, set(raw) - set(schema)))
    if unknown:
        raise ConfigError(f"{name}.{unknown[0]}: unknown key; accepted keys are {sorted(schema)}")
    out = {}
    for key, field in schema.items():
        if key in raw:
            out[key] = field.convert(f"{name}.{key}", raw[key])
        elif field.default is REQUIRED:
            raise ConfigError(f"{name}.{key}: missing; expected {field.accepted or field.kind.__name__}")
        else:
            out[key] = field.default
    return out

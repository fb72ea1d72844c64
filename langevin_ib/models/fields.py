"""Typed config fields with checks; errors name the field and what it accepts."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

REQUIRED = object()


class ConfigError(ValueError):
    """A user mistake in a config or an override; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One config entry: its type, default and the condition its value must meet."""

    kind: type
    default: Any = REQUIRED
    accepted: str = ""
    check: Callable[[Any], bool] | None = None
    choices: tuple | None = None

    def convert(self, name: str, value: Any) -> Any:
        what = self.accepted or (f"one of {list(self.choices)}" if self.choices else f"a {self.kind.__name__}")
        if self.kind is float and isinstance(value, str):
            try:
                value = float(value)  # YAML 1.1 reads '1e-3' as a string
            except ValueError:
                pass
        ok_type = {
            float: isinstance(value, (int, float)) and not isinstance(value, bool),
            int: isinstance(value, int) and not isinstance(value, bool),
            bool: isinstance(value, bool),
            str: isinstance(value, str),
            list: isinstance(value, list),
            dict: isinstance(value, Mapping),
        }[self.kind]
        if not ok_type:
            raise ConfigError(f"{name}: got {value!r} ({type(value).__name__}); expected {what}")
        value = self.kind(value)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{name}: got {value!r}; accepted values are {list(self.choices)}")
        if self.check is not None and not self.check(value):
            raise ConfigError(f"{name}: got {value!r}; expected {what}")
        return value


def positive(kind: type, default: Any = REQUIRED) -> Field:
    return Field(kind, default, f"a positive {kind.__name__}", lambda x: x > 0)


def non_negative(kind: type, default: Any = REQUIRED) -> Field:
    return Field(kind, default, f"a non-negative {kind.__name__}", lambda x: x >= 0)


def section(name: str, raw: Any, schema: Mapping[str, Field]) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{name}: expected a mapping with keys {sorted(schema)}, got {raw!r}")
    unknown = sorted(set(raw) - set(schema))
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

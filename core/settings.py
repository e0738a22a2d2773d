"""Typed, validated settings groups: one dataclass per group, from which the command-line flags,
the worker's JSON parameters, batch manifests and library calls all derive.

A group is a frozen dataclass that subclasses :class:`Settings`; each field is declared with
:func:`setting`, which carries its help text and its range. Values are checked on construction
(one :class:`SettingsError` naming the key) and by :meth:`Settings.from_mapping` for untrusted
input such as a worker request (unknown keys and wrong types are named too).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from .errors import InputError

T = TypeVar("T", bound="Settings")


class SettingsError(InputError):
    """A setting with a bad value, a wrong type, or a key no group has.

    Attributes:
        key: the offending key, as the dataclass field (and JSON key) spells it.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def setting(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    power_of_two: bool = False,
    flags: tuple[str, ...] = (),
) -> Any:
    """Declare one setting: its default, help text and allowed range.

    Args:
        default: the value used when none is given (a dict default is copied per instance).
        help: one line, shown by ``--help`` and the add-on.
        minimum: inclusive lower bound for a number.
        maximum: inclusive upper bound for a number.
        power_of_two: the number must be a power of two.
        flags: extra command-line spellings (``--faces`` for ``target_faces``).
    """
    metadata = {"help": help, "minimum": minimum, "maximum": maximum, "power_of_two": power_of_two, "flags": flags}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_SHORT = 80
"""Characters of an offending value quoted in a message (a 100 000-character string stays readable)."""


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to 80 characters: how an offending value is quoted in a message."""
    text = repr(value)
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


def _describe(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(k) for k in typing.get_args(kind) if k is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(kind))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a file path"}.get(
        kind, "a mapping of strings" if origin is dict else str(kind)
    )


def _convert(key: str, kind: Any, value: Any) -> Any:
    """``value`` as ``kind`` (int -> float, str -> Path), or a SettingsError naming ``key``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None:
            return None
        for option in options[:-1]:  # the first type that takes the value (a number, then "auto")
            try:
                return _convert(key, option, value)
            except SettingsError:
                continue
        try:
            return _convert(key, options[-1], value)
        except SettingsError:
            raise SettingsError(key, f"{key} must be {_describe(kind)}, got {short_repr(value)}") from None
    bad = SettingsError(key, f"{key} must be {_describe(kind)}, got {short_repr(value)}")
    if origin is Literal:
        if isinstance(value, bool) or value not in typing.get_args(kind):
            raise bad
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SettingsError(key, f"{key} must be a finite number, got {short_repr(value)}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise bad
        return value
    if kind is Path:
        if not isinstance(value, (str, os.PathLike)) or str(value) == "":
            raise bad
        return Path(value).expanduser()
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise bad
        return dict(value)
    raise TypeError(f"unsupported setting type {kind!r} for {key}")  # a programming error, not user input


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every settings group: checks types and ranges on construction."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _convert(f.name, hints[f.name], getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            meta = f.metadata
            if meta.get("minimum") is not None and value < meta["minimum"]:
                raise SettingsError(f.name, f"{f.name} must be at least {meta['minimum']}, got {short_repr(value)}")
            if meta.get("maximum") is not None and value > meta["maximum"]:
                raise SettingsError(f.name, f"{f.name} must be at most {meta['maximum']}, got {short_repr(value)}")
            if meta.get("power_of_two") and (int(value) != value or int(value) & (int(value) - 1)):
                raise SettingsError(f.name, f"{f.name} must be a power of two, got {short_repr(value)}")

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The group's keys, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls: type[T], data: Mapping[str, Any], ignore: tuple[str, ...] = ()) -> T:
        """Build the group from untrusted key/value pairs (a worker request's params).

        Args:
            data: keys of this group; missing ones take their defaults.
            ignore: keys that belong to another group of the same request.

        Raises:
            SettingsError: for an unknown key, a wrong type or a value out of range, naming the key.
        """
        if not isinstance(data, Mapping):
            raise SettingsError("params", f"params must be a JSON object, got {type(data).__name__}")
        known = set(cls.keys())
        for key in data:
            if key not in known and key not in ignore:
                raise SettingsError(str(key), f"unknown parameter {short_repr(key)}; accepted: {', '.join(sorted(known | set(ignore)))}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: paths as strings."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}

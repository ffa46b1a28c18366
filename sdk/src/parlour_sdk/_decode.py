"""Turns JSON into the dataclasses of `models`, reading exactly their declared fields."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from typing import Any, TypeVar

from parlour_sdk.errors import ProtocolError

T = TypeVar("T")


_HINTS: dict[type[Any], dict[str, Any]] = {}


def hints(cls: type[Any]) -> dict[str, Any]:
    """The resolved type of each field of a dataclass (worked out once per class)."""
    if cls not in _HINTS:
        resolved = typing.get_type_hints(cls)
        _HINTS[cls] = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}
    return _HINTS[cls]


def decode(cls: type[T], value: Any) -> T:
    """A dataclass instance from a JSON object; a missing member is a `ProtocolError`."""
    if not isinstance(value, dict):
        raise ProtocolError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for name, kind in hints(cls).items():
        if name in value:
            kwargs[name] = convert(kind, value[name], f"{cls.__name__}.{name}")
        elif _required(fields[name]):
            raise ProtocolError(f"the server's answer lacks {cls.__name__}.{name}")
    return cls(**kwargs)


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def convert(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return None if value is None else convert(options[0], value, where)
    if value is None:
        raise ProtocolError(f"{where} is null")
    if origin is list:
        (item,) = typing.get_args(kind)
        return [convert(item, v, where) for v in _expect(list, value, where)]
    if origin is dict:
        return _expect(dict, value, where)
    if dataclasses.is_dataclass(kind):
        return decode(typing.cast(type[Any], kind), value)
    if kind is datetime:
        return datetime.fromisoformat(_expect(str, value, where))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return _expect(kind, value, where)


def _expect(kind: type[T], value: Any, where: str) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"{where}: expected {kind.__name__}, got {type(value).__name__}")
    return value

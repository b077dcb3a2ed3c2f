"""Numbers that refuse booleans, model-wide.

Pydantic's lax mode turns `true` into 1 for an `int` or `float` field, so `frames.fps: true` would mean 1 FPS.
`NoBoolNumbers` is a base model whose fields never take a boolean where the annotation wants a number: it walks
the raw input against the field annotations (through Optional/Union, dicts, lists, tuples and nested models,
whatever their base) before validation and reports each such place with its full key path. Fields typed `bool`
(or a union with bool) still take booleans; strings and other coercions are pydantic's business as usual.
"""
from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError, model_validator


def _options(tp) -> tuple:
    """The alternatives of a (possibly Annotated / Optional / Union) type, Annotated stripped."""
    if get_origin(tp) is Annotated:
        return _options(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return tuple(o for a in get_args(tp) for o in _options(a))
    return (tp,)


def _takes_bool(options: tuple) -> bool:
    return any(o is bool or o is Any or (get_origin(o) is Literal and any(isinstance(v, bool) for v in get_args(o)))
               for o in options)


def _number_kind(options: tuple) -> str | None:
    """'int_type' / 'float_type' when a number is expected (the pydantic error type to report), else None."""
    if float in options:
        return "float_type"
    return "int_type" if int in options else None


def _items(value, tp):
    """(key, value, annotation) for the members of a container value typed `tp`."""
    origin, args = get_origin(tp), get_args(tp)
    if isinstance(value, dict) and isinstance(tp, type) and issubclass(tp, BaseModel):
        return [(k, value[k], f.annotation) for k, f in tp.model_fields.items() if k in value]
    if isinstance(value, dict) and origin is dict and args:
        return [(k, v, args[1]) for k, v in value.items()]
    if isinstance(value, (list, tuple)) and origin in (list, tuple, set, frozenset) and args:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return list(zip(range(len(value)), value, args))
        return [(i, v, args[0]) for i, v in enumerate(value)]
    return []


def misplaced_bools(value, tp, loc: tuple = ()) -> list[dict]:
    """Pydantic line errors for every boolean in `value` that sits where `tp` wants a number."""
    options = _options(tp)
    if isinstance(value, bool):
        kind = _number_kind(options)
        if kind and not _takes_bool(options):
            return [{"type": kind, "loc": loc, "input": value}]
        return []
    out = []
    for option in options:
        for key, member, member_tp in _items(value, option):
            out += misplaced_bools(member, member_tp, (*loc, key))
        if out:
            break
    return out


class NoBoolNumbers(BaseModel):
    """Base model: a boolean given for a number field (at any depth) is a validation error at its key."""

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data):
        errors = misplaced_bools(data, cls)
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data

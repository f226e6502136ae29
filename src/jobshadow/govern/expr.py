"""Typed shorthands for Iceberg row filters (pyiceberg's expression classes defeat type checkers)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, And, BooleanExpression, EqualTo, In


def eq(column: str, value: Any) -> BooleanExpression:
    return EqualTo(column, value)  # type: ignore[call-arg, arg-type, misc]


def isin(column: str, values: Iterable[Any]) -> BooleanExpression:
    vals = list(values)
    if not vals:
        return AlwaysFalse()
    return In(column, vals)  # type: ignore[arg-type, misc, call-arg]


def both(a: BooleanExpression, b: BooleanExpression) -> BooleanExpression:
    return And(a, b)


def everything() -> BooleanExpression:
    return AlwaysTrue()

"""What every model of the SDK shares: the base class the generated models derive from, and ``Page``."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Model(BaseModel):
    """Ignores fields a newer API adds; immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Page(Model, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next (None: the last)."""

    data: list[T]
    next_cursor: str | None

"""Shared CLI helpers: turn domain errors into a one-line message and exit code 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from geo.errors import GoldentimeError

F = TypeVar("F", bound=Callable[..., Any])


def domain_errors(fn: F) -> F:
    """Print a domain error as ``error: ...`` (naming the field/row) instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GoldentimeError as e:
            where = f" [{e.field}]" if e.field else ""
            typer.secho(f"error{where}: {e.message}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]

"""One handler for the errors a CLI user can fix, shared by every `churnml` command.

Bad input data, bad dates, missing files, unknown model versions: printed as one clear message with exit
code 1 — never a stack trace. Set CHURNML_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected failures into a short message on stderr and exit code 1."""
    import pydantic
    from mlflow.exceptions import MlflowException

    from churnml.data.sources import SourceError
    from churnml.data.validate import DataValidationError
    from churnml.lifecycle.registry import RegistryError
    from churnml.lifecycle.tracking import TrackingUnavailable

    try:
        yield
    except (DataValidationError, SourceError, RegistryError, MlflowException, FileNotFoundError, ValueError,
            TrackingUnavailable, pydantic.ValidationError) as exc:
        if os.environ.get("CHURNML_DEBUG"):
            raise
        message = exc.message if isinstance(exc, MlflowException) else str(exc)
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        raise typer.Exit(1) from None


def parse_date(value: str, param: str = "--as-of") -> dt.date:
    """An ISO date from a command-line option, or typer's usage error naming the option."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=param) from None

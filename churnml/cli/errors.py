"""One handler for the errors a CLI user can fix, shared by every `churnml` command.

Bad input data, bad dates or option values, bad config files, missing files, unknown model versions: printed
as one line on stderr, `error: <sentence>`, with exit code 1 — never a stack trace (`fail` for the ones a command
finds itself, `user_errors` for the ones the library raises). Click's own usage errors (an unknown option, a
missing required one) keep click's message and exit code 2. Set CHURNML_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True)


#: The exit code of every error a user can fix (click's usage errors keep 2).
USER_ERROR = 1


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit with `USER_ERROR`."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)  # paths whole
    raise typer.Exit(USER_ERROR)


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
        if isinstance(exc, DataValidationError) and not exc.lenient:
            message += "\nOn the command line: --lenient (validate, features and import) quarantines them."
        fail(message)


def parse_date(value: str, param: str = "--as-of") -> dt.date:
    """An ISO date from a command-line option, or the user error naming the option."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{param} {value!r} is not a date (YYYY-MM-DD).")


def choice(value: str, allowed: Iterator[str] | tuple[str, ...] | list[str], param: str) -> str:
    """`value` if it is one of `allowed`, else the user error naming the option and the choices."""
    options = list(allowed)
    if value not in options:
        fail(f"{param} must be one of {', '.join(options)}; got {value!r}.")
    return value

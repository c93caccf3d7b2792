"""`churnml models …`: list versions, promote, roll back and show the registry history (typer + rich).

Thin: resolve the work directory, call `churnml.lifecycle.registry`, print. Expected failures (unknown version, nothing
to roll back to, unreachable server) are one red line and exit code 1; CHURNML_DEBUG=1 shows the traceback.
Mounted by `churnml.cli.app` as `app.add_typer(models_app)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from churnml.cli.errors import user_errors
from churnml.cli.help import Group
from churnml.cli.options import ConfigOpt
from churnml.cli.tables import history_table

if TYPE_CHECKING:
    from churnml.lifecycle.registry import ModelRegistry

models_app = typer.Typer(
    name="models",
    rich_markup_mode=None,
    cls=Group,
    help="Registered churn-risk models: versions, champion/challenger, promotion, rollback, history.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

NameOpt = Annotated[str, typer.Option("--name", envvar="CHURNML_REGISTERED_MODEL", help="Registered model name.")]
_HEADLINE = ("roc_auc", "churned_mrr_share_top10")


def _registry(config: Path | None, name: str) -> ModelRegistry:
    from churnml.config import load_settings
    from churnml.lifecycle.registry import ModelRegistry

    settings = load_settings(config)
    return ModelRegistry.from_settings(settings, name=name)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


@models_app.command("list")
def list_cmd(config: ConfigOpt = None, name: NameOpt = "churn-risk") -> None:
    """Registered versions with their aliases and backtest metrics."""
    with user_errors():
        registry = _registry(config, name)
        versions = registry.list_versions()
    if not versions:
        console.print(f"no versions of {name!r} registered yet")
        return
    table = Table(title=f"{name} versions", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    for col, justify in (("v", "right"), ("aliases", "left"), ("created (UTC)", "left"), ("AUC", "right"),
                         ("rev@10%", "right"), ("run", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("last decision", ratio=1)
    for v in reversed(versions):
        aliases = ", ".join(f"[bold green]{a}[/]" if a == "champion" else a for a in v.aliases)
        table.add_row(
            str(v.version), aliases, v.created.strftime("%Y-%m-%d %H:%M"),
            *(_fmt(v.metrics.get(k)) for k in _HEADLINE), (v.run_id or "")[:8],
            (v.decision or "").split(":", 1)[0],
        )
    console.print(table)


@models_app.command()
def promote(
    version: Annotated[int, typer.Argument(help="Version to make champion.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the history).")] = "manual promotion",
    config: ConfigOpt = None,
    name: NameOpt = "churn-risk",
) -> None:
    """Make VERSION the champion now (manual override, recorded in the history)."""
    with user_errors():
        registry = _registry(config, name)
        previous = registry.champion()
        registry.promote(version, reason)
    was = f" (was v{previous})" if previous is not None else ""
    console.print(f"[green]v{version} of {name} is champion{was}[/]")


@models_app.command()
def rollback(
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the history).")] = "manual rollback",
    config: ConfigOpt = None,
    name: NameOpt = "churn-risk",
) -> None:
    """Make the previous champion (by the history) champion again."""
    with user_errors():
        registry = _registry(config, name)
        previous = registry.champion()
        target = registry.rollback(reason)
    console.print(f"[yellow]rolled back {name}: v{target} is champion again (was v{previous})[/]")


@models_app.command()
def history(config: ConfigOpt = None, name: NameOpt = "churn-risk") -> None:
    """The append-only history: registrations, promotions, declined promotions and rollbacks."""
    with user_errors():
        entries = _registry(config, name).history()
    if not entries:
        console.print(f"no history for {name!r} yet")
        return
    console.print(history_table(entries, name, console))

"""Library modules word their errors in settings and dates, never in CLI flags (`--lenient`, `--as-of`): the
library is also called by the API, the weekly job and notebooks, where no flag exists. `churnml.cli` adds the
flag wording where a command has one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import churnml

FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
ROOT = Path(churnml.__file__).parent


def _raised_flags(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for inner in ast.walk(node.exc):
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    found += [f"{path.relative_to(ROOT)}:{node.lineno}: {m}" for m in FLAG.findall(inner.value)]
    return found


def test_library_errors_name_no_cli_flag() -> None:
    modules = [p for p in ROOT.rglob("*.py") if "cli" not in p.relative_to(ROOT).parts]
    assert len(modules) > 50
    offenders = [hit for p in modules for hit in _raised_flags(p)]
    assert offenders == []


def test_the_check_sees_a_flag() -> None:
    tree = 'raise ValueError(f"run with --lenient for {x}")'
    assert FLAG.findall(ast.parse(tree).body[0].exc.args[0].values[0].value) == ["--lenient"]

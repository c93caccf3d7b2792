"""Every benchmark script imports: a moved library function breaks a benchmark at once, not weeks later."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
# Imported by uvicorn in its own process with a trained model on disk; it loads that model at import.
SERVED_APPS = {"handbuilt_service"}
# Shared helpers of the scripts (writing docs/benchmarks.md sections), not scripts themselves.
HELPERS = {"report"}
MODULES = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "__init__" and p.stem not in SERVED_APPS)


def test_benchmarks_found() -> None:
    assert {"outside_data", "models", "scoring", "serving"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_imports(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    if name not in HELPERS:
        assert callable(getattr(module, "main", None)), f"benchmarks/{name}.py has no main()"

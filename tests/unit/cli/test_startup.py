"""`churnml --help` starts fast: the heavy libraries load only inside the commands that need them (issue 14).

Structural, not timed: a fresh interpreter imports the CLI (and prints its help), then lists which heavy
modules it loaded. Timing would flake on a busy machine; an eager `import mlflow` in a command module cannot hide.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Loaded by a command's own work, never by `churnml --help` (each costs from 0.2 s to several seconds).
HEAVY = ("mlflow", "lightgbm", "shap", "pyspark", "sklearn", "duckdb", "ibis", "pandas", "numpy", "fastapi",
         "uvicorn", "scipy", "matplotlib", "pyarrow")

_PROBE = """
import json, sys
from typer.testing import CliRunner
from churnml.cli.app import app
res = CliRunner().invoke(app, ["--help"])
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"exit": res.exit_code, "help": res.output, "loaded": loaded}))
"""


def test_help_imports_no_heavy_library() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(HEAVY)], capture_output=True, text=True,
                         check=True, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["exit"] == 0 and "score" in got["help"]
    assert got["loaded"] == [], f"`churnml --help` imports {got['loaded']}; import them inside the commands"


def test_the_console_script_answers_help() -> None:
    out = subprocess.run([sys.executable, "-m", "churnml.cli.app", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "Usage" in out.stdout and "train" in out.stdout

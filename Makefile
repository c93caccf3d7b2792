# Two set-up commands: `make demo` and `make test`. Both create/refresh .venv and install the project.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean notebooks

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pipelines.demo

# JupyterLab (in the dev extra) on notebooks/; they write under work/notebooks/ (removed by `make clean`).
notebooks: $(STAMP)
	$(BIN)/jupyter lab notebooks/

lint: $(STAMP)
	$(BIN)/ruff check churnml pipelines serving tests benchmarks

test: $(STAMP) lint
	./.ci/system-deps.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) work .pytest_cache

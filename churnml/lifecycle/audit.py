"""The registry's audit history as one JSON-lines artifact per registered model, on an MLflow run of its own.

Why: the history (register, promote, decline, rollback) is read as a whole (the champion stack, rollback,
`churnml models history`) and grows with every training; kept as registered-model tags it piled up on the
model's page. Here it is one file, `registry_audit.jsonl`, an artifact of the run `registry audit <model>`
(tags `churnml.role` = `audit`, `churnml.registered_model` = <model>) in the registry's experiment: one line per
entry, readable and downloadable in the MLflow UI, kept wherever the models are (embedded store or server).

Contract: `append` adds a line and never rewrites an earlier one. It is a read-modify-write of the file, done
under an exclusive lock file for the embedded store, so two processes on one work dir never lose an entry; on a
remote server two writers appending in the same instant could, so the history is also what `read` merges from
every audit run of the model (a creation race leaves two) and from the `churnml.audit.*` tags that stores written
before kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

ARTIFACT = "registry_audit.jsonl"
TAG_ROLE = "churnml.role"
TAG_MODEL = "churnml.registered_model"
#: Registered-model tags of the history as stores before the artifact kept it (read, never written).
LEGACY_PREFIX = "churnml.audit."


@contextlib.contextmanager
def _no_progress_bar() -> Iterator[None]:
    """MLflow draws a progress bar for every download; reading the history must print nothing."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


class AuditLog:
    """The audit lines of registered model `model` (see the module docstring).

    Args:
        client: the registry's MlflowClient.
        model: registered model name.
        experiment: the experiment holding the audit run (created if absent).
        lock_file: an exclusive lock held while appending (embedded store); None: no lock (remote server).
    """

    def __init__(self, client: MlflowClient, model: str, experiment: str, lock_file: Path | None = None) -> None:
        self.client, self.model, self.experiment, self.lock_file = client, model, experiment, lock_file

    def _experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        return exp.experiment_id if exp is not None else self.client.create_experiment(self.experiment)

    def _runs(self) -> list[str]:
        """Ids of the model's audit runs, oldest first."""
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is None:
            return []
        found = self.client.search_runs(
            [exp.experiment_id], order_by=["attributes.start_time ASC"],
            filter_string=f"tags.`{TAG_ROLE}` = 'audit' AND tags.`{TAG_MODEL}` = '{self.model}'")
        return [r.info.run_id for r in found]

    def _lines(self, run_id: str) -> list[str]:
        if not any(a.path == ARTIFACT for a in self.client.list_artifacts(run_id)):
            return []
        with tempfile.TemporaryDirectory(prefix="churnml-audit-") as tmp, _no_progress_bar():
            path = Path(self.client.download_artifacts(run_id, ARTIFACT, tmp))
            return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def read(self) -> list[str]:
        """Every entry's JSON text: the audit runs' lines, then the legacy tags' values (unordered, unique)."""
        lines = [line for run_id in self._runs() for line in self._lines(run_id)]
        with contextlib.suppress(Exception):  # no registered model yet: no legacy tags either
            tags = self.client.get_registered_model(self.model).tags or {}
            lines += [tags[k] for k in sorted(tags) if k.startswith(LEGACY_PREFIX)]
        return list(dict.fromkeys(lines))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.lock_file is None:
            yield
            return
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def append(self, line: str) -> str:
        """Append one entry (a JSON text without newlines); returns the audit run's id."""
        if "\n" in line:
            raise ValueError("an audit entry must be one line")
        with self._locked():
            runs = self._runs()
            if runs:
                run_id = runs[0]
            else:
                run = self.client.create_run(self._experiment_id(), run_name=f"registry audit {self.model}",
                                             tags={TAG_ROLE: "audit", TAG_MODEL: self.model})
                run_id = run.info.run_id
                self.client.set_terminated(run_id, "FINISHED")
            lines = [*self._lines(run_id), line]
            with tempfile.TemporaryDirectory(prefix="churnml-audit-") as tmp:
                path = Path(tmp) / ARTIFACT
                path.write_text("\n".join(lines) + "\n", encoding="utf-8")
                self.client.log_artifact(run_id, str(path))
        return run_id

"""The model the service answers with, loaded from the MLflow registry by alias and swapped when the alias moves.

`ModelHolder.current` is one immutable `ServedModel`; a request reads it once and uses that object to the end,
so swapping (a single reference assignment) never changes the model under a request in flight. `refresh()`
asks the registry which version the alias points to and loads it only when it differs from the one served;
if loading fails the old model keeps serving and the failure is kept in `last_error` (shown by /v1/model)
and logged. A background thread (`start`/`stop`) calls `refresh()` every `reload_seconds`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenacity import retry, stop_after_attempt, wait_fixed

logger = logging.getLogger("churnml.serving")


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and what /v1/model says about it."""

    model: Any
    name: str
    version: int
    alias: str
    uri: str
    loaded_at: dt.datetime
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    trained_from: str | None = None
    trained_to: str | None = None

    scorer: Any = None  # serving.scoring.OnlineScorer, built with the model (None for stand-in test models)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class LoadError:
    """A failed load: which version, when, and the message (logged, shown in /v1/model)."""

    version: int | None
    at: dt.datetime
    message: str


class ModelHolder:
    """Holds the served model for `alias` of the registered model in `work_dir`'s registry.

    Args:
        work_dir: churnml work dir (embedded MLflow store; MLFLOW_TRACKING_URI wins).
        name: registered model name.
        alias: alias to follow.
        loader: version uri -> model (default `churnml.model.pyfunc.load_churn_model`); tests inject failures.
    """

    def __init__(self, work_dir: Path, name: str, alias: str,
                 loader: Callable[[str], Any] | None = None) -> None:
        self.work_dir = Path(work_dir)
        self.name = name
        self.alias = alias
        self._loader = loader
        self._registry: Any = None
        self._lock = threading.Lock()  # one refresh at a time; readers never take it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current: ServedModel | None = None
        self.last_error: LoadError | None = None
        self.swaps = 0

    # ------------------------------------------------------------------ registry access

    def _reg(self) -> Any:
        if self._registry is None:
            from churnml.lifecycle.registry import ModelRegistry

            self._registry = ModelRegistry.from_work_dir(self.work_dir, name=self.name)
        return self._registry

    @retry(stop=stop_after_attempt(3), wait=wait_fixed(0.2), reraise=True)
    def _alias_version(self) -> int | None:
        return self._reg().aliases().get(self.alias)

    def _load(self, version: int) -> ServedModel:
        from churnml.lifecycle.tracking import tracking_uri, use_tracking_store
        from churnml.model.pyfunc import load_churn_model

        uri = f"models:/{self.name}/{version}"  # pinned: the alias may move again while loading
        # `models:/` URIs resolve through MLflow's process-wide registry URI: point it at this holder's store
        # (the one setter churnml uses) so a load can never come from another store in the process
        use_tracking_store(tracking_uri(self.work_dir))
        model = (self._loader or load_churn_model)(uri)
        reg = self._reg()
        info = reg.get_version(version)
        trained_from = trained_to = None
        if info.run_id:
            try:
                tags = reg.client.get_run(info.run_id).data.tags
                trained_from, trained_to = tags.get("data.as_of_min"), tags.get("data.as_of_max")
            except Exception as exc:  # lineage is informative only
                logger.warning("could not read the training range of %s v%s: %s", self.name, version, exc)
        from serving.scoring import OnlineScorer

        # built here, off the request path: a model that cannot answer requests is a failed load
        scorer = OnlineScorer(model, name=self.name, version=version)
        return ServedModel(model=model, name=self.name, version=version, alias=self.alias, uri=uri,
                           loaded_at=dt.datetime.now(dt.UTC), run_id=info.run_id, metrics=dict(info.metrics),
                           trained_from=trained_from, trained_to=trained_to, scorer=scorer)

    # ------------------------------------------------------------------ refresh

    def refresh(self) -> bool:
        """Load the version the alias points to if it is not the one served; True when the model changed.

        Never raises: a failed lookup or load is logged and kept in `last_error`; the old model stays.
        """
        with self._lock:
            current = self.current
            try:
                version = self._alias_version()
            except Exception as exc:
                self._fail(None, f"could not read alias {self.alias!r} of {self.name!r}: {exc}")
                return False
            if version is None:
                if current is None:
                    self._fail(None, f"no version of model {self.name!r} has the alias {self.alias!r}")
                return False
            if current is not None and current.version == version:
                return False
            try:
                served = self._load(version)
            except Exception as exc:
                kept = f"; still serving {current.label}" if current else ""
                self._fail(version, f"loading {self.name} v{version} failed: {type(exc).__name__}: {exc}{kept}")
                return False
            self.current = served  # the swap: one reference assignment
            self.last_error = None
            self.swaps += current is not None
            logger.info("serving %s (alias %s)%s", served.label, self.alias,
                        f", replacing v{current.version}" if current else "")
            return True

    def _fail(self, version: int | None, message: str) -> None:
        self.last_error = LoadError(version, dt.datetime.now(dt.UTC), message)
        logger.error(message)

    # ------------------------------------------------------------------ background check

    def start(self, every_seconds: float) -> None:
        """Check the alias every `every_seconds` in a daemon thread (nothing when 0)."""
        if every_seconds <= 0 or self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="churnml-model-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

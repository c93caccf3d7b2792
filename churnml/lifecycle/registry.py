"""Model registry: versions of `churn-risk`, the `champion` / `challenger` aliases, and an audit history.

This module runs over 400 lines on purpose: the promotion rule (`decide_promotion`), the history it writes and the
registry class that applies both are one contract, read together; the pure parts come first.

A new version becomes `challenger`. It is promoted to `champion` only on evidence from the same backtest: the
lower end of the interval of its ROC-AUC improvement over the champion (paired bootstrap by account) above a
margin, and revenue captured (share of churned MRR in the top 10% by risk) not distinguishably worse (see
`PromotionPolicy`); the first version is promoted because there is nothing to beat. Otherwise it stays challenger and
the reason is written on the version (tag `churnml.decision`) and in the history. Scoring and the API look the
alias up once and load that version by number (`models:/churn-risk/<version>`), so a run is pinned to one
version even if the alias moves meanwhile.

Where the history lives: one JSON line per entry in the artifact `registry_audit.jsonl` of the MLflow run
`registry audit <model>` in the registry's experiment (`churnml.lifecycle.audit`), so it is kept wherever the
models are (embedded store or any server) and reads as one file in the MLflow UI, not as a pile of tags on the
model. Entries are appended, never rewritten (under a lock file for the embedded store); entries of older
stores, kept as registered-model tags `churnml.audit.*`, are still read. With the embedded store each entry is
also appended to `<work_dir>/registry_audit.jsonl` (a plain file to grep or back up; the artifact stays the
source of truth). An entry carries the headline metrics, not per-fold ones (those stay on the version and its
run), and is kept under 4,800 characters.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from churnml.lifecycle.audit import AuditLog
from churnml.lifecycle.run_record import is_headline
from churnml.lifecycle.tracking import DEFAULT_EXPERIMENT, TAG_BACKTEST

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from churnml.config import Settings

logger = logging.getLogger(__name__)

DEFAULT_NAME = "churn-risk"
CHAMPION = "champion"
CHALLENGER = "challenger"
AUDIT_FILE = "registry_audit.jsonl"
TAG_METRICS = "churnml.training.metrics"
TAG_DECISION = "churnml.decision"
TAG_ROLLED_BACK = "churnml.rolled_back"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_MAX_AUDIT_CHARS = 4800  # registered-model tag values are VARCHAR(5000) in MLflow's SQL stores
_MAX_REASON = 1000
_FLOAT_TOL = 1e-12


class RegistryError(Exception):
    """A registry request that cannot be met (unknown version, nothing to roll back to, ...)."""


# --------------------------------------------------------------------------- the decision rule (pure)


class PromotionPolicy(BaseModel):
    """When a challenger replaces the champion: on evidence, not on a point difference.

    With the paired bootstrap of the challenger minus the champion on the same backtest (keys
    `<metric>_diff`, `<metric>_diff_lo`, `<metric>_diff_hi` in the champion's metrics, as `churnml train`
    computes them): the lower end of the ROC-AUC improvement's interval must be above `margin_auc`, and the
    challenger must not be distinguishably worse on revenue captured (the upper end of that interval at
    least `margin_revenue`, default 0). Without an interval (e.g. stored metrics of the same backtest) the point
    differences must reach the margins, and the reason says there was no interval. Metric names are those of
    `churnml.training.metrics.summarize`.
    """

    margin_auc: float = Field(0.005, ge=0)
    margin_revenue: float = Field(0.0, ge=0)
    auc_metric: str = "roc_auc"
    revenue_metric: str = "churned_mrr_share_top10"


@dataclass(frozen=True)
class Decision:
    """Whether to promote, why, and the evidence (metric -> diff / lo / hi) the history records."""

    promote: bool
    reason: str
    evidence: dict[str, dict[str, float]] = field(default_factory=dict)


def _value(metrics: Mapping[str, Any] | None, key: str) -> float | None:
    if not metrics or metrics.get(key) is None:
        return None
    try:
        x = float(metrics[key])
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _interval(champion: Mapping[str, Any], key: str) -> dict[str, float] | None:
    parts = {k: _value(champion, f"{key}_diff{s}") for k, s in (("diff", ""), ("lo", "_lo"), ("hi", "_hi"))}
    return None if any(v is None for v in parts.values()) else parts  # type: ignore[return-value]


def _check(label: str, key: str, margin: float, guard: bool, challenger: Mapping[str, Any],
           champion: Mapping[str, Any]) -> tuple[bool, str, dict[str, float] | None]:
    """One criterion: (passed, words, interval or None)."""
    new, old = _value(challenger, key), _value(champion, key)
    if new is None:
        return False, f"challenger has no {label} ({key})", None
    iv = _interval(champion, key)
    if iv is not None:
        span = f"{iv['diff']:+.4f} ({iv['lo']:+.4f} to {iv['hi']:+.4f})"
        if guard:
            ok = iv["hi"] >= margin - _FLOAT_TOL
            return ok, f"{label} {span} {'not' if ok else 'distinguishably'} worse", iv
        ok = iv["lo"] > margin + _FLOAT_TOL
        return ok, f"{label} {span}: lower end {'above' if ok else 'not above'} margin {margin:.4f}", iv
    if old is None:
        return True, f"{label} {new:.4f} (champion has none)", None
    ok = new - old >= margin - _FLOAT_TOL
    rel = f">= {margin:.4f}" if ok else f"< margin {margin:.4f}"
    return ok, f"{label} {new:.4f} vs {old:.4f} ({new - old:+.4f} {rel}) on point values, no interval", None


def decide_promotion(
    challenger: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    margins: PromotionPolicy | None = None,
) -> Decision:
    """Promote iff there is no champion, or the evidence clears both criteria of `PromotionPolicy`.

    A challenger lacking a metric (or with NaN, e.g. a one-class backtest) is never promoted over a
    champion. A champion lacking a metric (and no interval) cannot be beaten on it by number, so that
    criterion passes and the reason says so.
    """
    policy = margins or PromotionPolicy()
    if champion is None:
        return Decision(True, "no champion yet: first model is promoted")
    passed, failed, evidence = [], [], {}
    for label, key, margin, guard in (("ROC-AUC", policy.auc_metric, policy.margin_auc, False),
                                      ("revenue captured", policy.revenue_metric, policy.margin_revenue, True)):
        ok, words, iv = _check(label, key, margin, guard, challenger, champion)
        (passed if ok else failed).append(words)
        if iv is not None:
            evidence[key] = iv
    if failed:
        return Decision(False, "stays challenger: " + "; ".join(failed + passed), evidence)
    return Decision(True, "beats champion: " + "; ".join(passed), evidence)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as the CLI shows it."""

    version: int
    run_id: str | None
    created: dt.datetime
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    backtest: str | None = None
    decision: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One history entry. `event`: register, promote, decline or rollback.

    `version` is the version the event is about (for promote and rollback: the new champion); `previous`
    the champion before it; `metrics` the version's headline metrics at the time; `evidence` the intervals of
    the challenger's improvement over the champion the decision rested on (metric -> diff / lo / hi).
    """

    ts: str
    event: str
    version: int
    previous: int | None
    reason: str
    metrics: dict[str, float]
    actor: str
    evidence: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def champion_stack(entries: list[AuditEntry]) -> list[int]:
    """Champions in order from the history: a promotion pushes, a rollback pops. Pure."""
    stack: list[int] = []
    for entry in entries:
        if entry.event == "promote":
            stack.append(entry.version)
        elif entry.event == "rollback":
            while stack and stack[-1] != entry.version:
                stack.pop()
            if not stack:
                stack.append(entry.version)
    return stack


def rollback_target(entries: list[AuditEntry], current: int | None) -> int | None:
    """The champion before `current` in the history (None if there is none). Pure."""
    stack = champion_stack(entries)
    while stack and stack[-1] == current:
        stack.pop()
    return stack[-1] if stack else None


def headline(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The main model's headline metrics (no `backtest/`, `baseline/`, `oracle/` namespace, nor the older
    `fold_`... prefixes), finite only (what the history keeps)."""
    out = {}
    for key in metrics:
        if not is_headline(key):
            continue
        x = _value(metrics, key)
        if x is not None:
            out[key] = x
    return out


# --------------------------------------------------------------------------- the registry (I/O)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class ModelRegistry:
    """The `churn-risk` registered model on an MLflow tracking server.

    Args:
        client: an MlflowClient (see `churnml.lifecycle.tracking.configure`).
        name: registered model name.
        audit_file: also append history entries to this JSON-lines file (embedded store only); appends to the
            history artifact are locked with `<audit_file>.lock` beside it.
        policy: default promotion margins.
        experiment: the experiment holding the history's run (`churnml.lifecycle.audit`).
    """

    def __init__(
        self,
        client: MlflowClient,
        name: str = DEFAULT_NAME,
        audit_file: Path | None = None,
        policy: PromotionPolicy | None = None,
        experiment: str = DEFAULT_EXPERIMENT,
    ) -> None:
        if not _NAME_RE.match(name):
            raise RegistryError(f"invalid registered model name {name!r}: letters, digits, '_', '.', '-' only")
        self.client = client
        self.name = name
        self.audit_file = audit_file
        self.policy = policy or PromotionPolicy()
        self.experiment = experiment
        lock = None if audit_file is None else audit_file.with_name(audit_file.name + ".lock")
        self._log = AuditLog(client, name, experiment, lock)

    @classmethod
    def from_work_dir(
        cls,
        work_dir: Path | str,
        name: str = DEFAULT_NAME,
        policy: PromotionPolicy | None = None,
        experiment: str = DEFAULT_EXPERIMENT,
    ) -> ModelRegistry:
        """The registry of the tracking store for `work_dir` (``MLFLOW_TRACKING_URI`` wins): the one constructor.

        Every caller (training, the weekly job, tabular training, scoring, the CLI, the API) builds its registry
        here, so the audit file goes wherever the store is embedded and never elsewhere.
        """
        from churnml.lifecycle.tracking import configure, is_embedded

        client = configure(work_dir, experiment)
        embedded = is_embedded(client.tracking_uri, work_dir)
        return cls(client, name, audit_file=Path(work_dir) / AUDIT_FILE if embedded else None, policy=policy,
                   experiment=experiment)

    @classmethod
    def from_settings(cls, settings: Settings, name: str | None = None) -> ModelRegistry:
        """`from_work_dir` with the configured work dir, experiment and promotion margins (`registry:` section).

        Args:
            name: registered model name (default `registry.name`; tabular models use `<registry.name>-snapshot`).
        """
        policy = PromotionPolicy(margin_auc=settings.registry.margin_auc,
                                 margin_revenue=settings.registry.margin_revenue)
        return cls.from_work_dir(settings.work_dir, name or settings.registry.name, policy=policy,
                                 experiment=settings.registry.experiment)

    # ------------------------------------------------------------------ reading

    def _exists(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return True

    def aliases(self) -> dict[str, int]:
        """Alias -> version (empty if the model is not registered yet)."""
        if not self._exists():
            return {}
        return {a: int(v) for a, v in self.client.get_registered_model(self.name).aliases.items()}

    def champion(self) -> int | None:
        """The champion's version, or None."""
        return self.aliases().get(CHAMPION)

    def challenger(self) -> int | None:
        """The challenger's version, or None."""
        return self.aliases().get(CHALLENGER)

    def _model_versions(self) -> list[ModelVersion]:
        if not self._exists():
            return []
        out: list[ModelVersion] = []
        token = None
        while True:
            page = self.client.search_model_versions(f"name = '{self.name}'", page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                break
        return sorted(out, key=lambda mv: int(mv.version))

    def _info(self, mv: ModelVersion, aliases: Mapping[str, int]) -> VersionInfo:
        tags = mv.tags or {}
        try:
            metrics = {k: float(v) for k, v in json.loads(tags.get(TAG_METRICS, "{}")).items() if v is not None}
        except (ValueError, TypeError, AttributeError):
            metrics = {}
        version = int(mv.version)
        return VersionInfo(
            version=version,
            run_id=mv.run_id,
            created=dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC),
            aliases=tuple(sorted(a for a, v in aliases.items() if v == version)),
            metrics=metrics,
            backtest=tags.get(TAG_BACKTEST),
            decision=tags.get(TAG_DECISION),
        )

    def list_versions(self) -> list[VersionInfo]:
        """Every version, oldest first, with aliases, stored metrics and last promotion decision."""
        aliases = self.aliases()
        return [self._info(mv, aliases) for mv in self._model_versions()]

    def get_version(self, version: int | str) -> VersionInfo:
        """One version.

        Raises:
            RegistryError: no such version (the message lists the versions there are).
        """
        try:
            wanted = int(version)
        except (TypeError, ValueError):
            raise RegistryError(f"version must be a number, got {version!r}") from None
        versions = self.list_versions()
        for info in versions:
            if info.version == wanted:
                return info
        if not versions:
            raise RegistryError(f"model {self.name!r} has no version {wanted}; no versions are registered yet")
        listed = ", ".join(str(v.version) for v in versions)
        raise RegistryError(f"model {self.name!r} has no version {wanted}; versions: {listed}")

    def history(self) -> list[AuditEntry]:
        """The audit history, oldest first (append-only; see the module docstring for where it lives)."""
        if not self._exists():
            return []
        entries = []
        for line in self._log.read():
            try:
                entries.append(AuditEntry(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                logger.warning("unreadable audit entry %.200s: %s", line, exc)
        return sorted(entries, key=lambda e: e.ts)

    def model_uri(self, alias: str = CHAMPION) -> str:
        """`models:/<name>@<alias>`: the alias itself (moves with promotions). Scoring pins the version instead."""
        return f"models:/{self.name}@{alias}"

    # ------------------------------------------------------------------ writing

    def _audit(
        self, event: str, version: int, previous: int | None, reason: str, metrics: Mapping[str, Any],
        evidence: Mapping[str, dict[str, float]] | None = None,
    ) -> AuditEntry:
        now = _now()
        entry = AuditEntry(
            ts=now.isoformat(timespec="microseconds"),
            event=event,
            version=int(version),
            previous=previous,
            reason=reason[:_MAX_REASON],
            metrics=headline(metrics),
            actor=_actor(),
            evidence=dict(evidence or {}),
        )
        text = entry.to_json()
        if len(text) > _MAX_AUDIT_CHARS:  # keep the decision metrics, drop the rest
            keep = {self.policy.auc_metric, self.policy.revenue_metric}
            entry = AuditEntry(**{**asdict(entry), "metrics": {k: v for k, v in entry.metrics.items() if k in keep}})
            text = entry.to_json()
        self._log.append(text)
        if self.audit_file is not None:
            self.audit_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.audit_file, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        logger.info("registry %s: %s version %s (%s)", self.name, event, version, reason)
        return entry

    def _ensure_registered_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(
                self.name, description="Calibrated, explained churn-risk scores (churnml)."
            )
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise

    def _logged_model_id(self, run: Any, model_name: str) -> str:
        from churnml.lifecycle.tracking import TAG_MODEL_ID

        tagged = run.data.tags.get(TAG_MODEL_ID)
        if tagged:
            return tagged
        found = self.client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}' AND name = '{model_name}'",
        )
        if not found:
            raise RegistryError(f"run {run.info.run_id} has no logged model named {model_name!r}")
        return found[-1].model_id

    def register(
        self,
        run_id: str,
        metrics: Mapping[str, Any] | None = None,
        *,
        backtest: str | None = None,
        model_name: str = "model",
    ) -> int:
        """Register the run's model as a new version and give it the `challenger` alias.

        Args:
            run_id: a run logged by `churnml.lifecycle.run_log.log_run`.
            metrics: backtest metrics to judge it by (default: the run's metrics).
            backtest: identity of the backtest the metrics come from (default: the run's
                `churnml.backtest_key` tag).
            model_name: the model's name within the run.

        Returns:
            The new version number.
        """
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            raise RegistryError(f"no run {run_id!r} on {self.client.tracking_uri}: {exc.message}") from None
        metrics = dict(run.data.metrics if metrics is None else metrics)
        backtest = backtest or run.data.tags.get(TAG_BACKTEST)
        model_id = self._logged_model_id(run, model_name)
        self._ensure_registered_model()
        tags = {TAG_METRICS: json.dumps({k: v for k, v in metrics.items() if _value(metrics, k) is not None})}
        tags.update({k: str(v) for k, v in headline(metrics).items()})
        if backtest:
            tags[TAG_BACKTEST] = backtest
        mv = self.client.create_model_version(
            self.name, source=f"models:/{model_id}", run_id=run_id, tags=tags, model_id=model_id
        )
        version = int(mv.version)
        self.client.set_registered_model_alias(self.name, CHALLENGER, str(version))
        self._audit("register", version, self.champion(), f"registered from run {run_id}", metrics)
        return version

    def promote(self, version: int | str, reason: str) -> None:
        """Make `version` the champion now (manual override; recorded with `reason`).

        Raises:
            RegistryError: unknown version, or it is already champion.
        """
        info = self.get_version(version)
        current = self.champion()
        if current == info.version:
            raise RegistryError(f"version {info.version} of {self.name!r} is already champion")
        self._set_champion(info, current, reason)

    def _set_champion(
        self, info: VersionInfo, current: int | None, reason: str,
        evidence: Mapping[str, dict[str, float]] | None = None,
    ) -> None:
        self.client.set_registered_model_alias(self.name, CHAMPION, str(info.version))
        if self.challenger() == info.version:
            self.client.delete_registered_model_alias(self.name, CHALLENGER)
        self.client.set_model_version_tag(self.name, str(info.version), TAG_DECISION, reason[:_MAX_REASON])
        self._audit("promote", info.version, current, reason, info.metrics, evidence)

    def promote_if_better(
        self,
        version: int | str,
        margin_auc: float | None = None,
        margin_revenue: float | None = None,
        *,
        champion_metrics: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Promote `version` to champion if it beats the champion on the same backtest (see `decide_promotion`).

        Stored champion metrics are compared only if both versions were judged on the same backtest
        (`churnml.backtest_key`): a new training frame means new evaluation rows, and numbers from different
        rows are not comparable. Otherwise pass `champion_metrics`: the champion's configuration scored on
        this version's backtest (e.g. as one more model in the same `run_backtest`).

        Returns:
            The decision; when not promoted, the version stays challenger and the reason is recorded.
        """
        info = self.get_version(version)
        current = self.champion()
        if current == info.version:
            return Decision(False, f"version {info.version} is already champion")
        policy = self.policy.model_copy(
            update={k: v for k, v in {"margin_auc": margin_auc, "margin_revenue": margin_revenue}.items()
                    if v is not None}
        )
        if current is None:
            decision = decide_promotion(info.metrics, None, policy)
        elif champion_metrics is not None:
            decision = decide_promotion(info.metrics, champion_metrics, policy)
        else:
            champ = self.get_version(current)
            if info.backtest and champ.backtest and info.backtest != champ.backtest:
                decision = Decision(
                    False,
                    f"stays challenger: champion v{current} was judged on another backtest ({champ.backtest}, "
                    f"this one {info.backtest}); pass the champion's metrics on this backtest",
                )
            else:
                decision = decide_promotion(info.metrics, champ.metrics, policy)
        if decision.promote:
            self._set_champion(info, current, decision.reason, decision.evidence)
        else:
            self.client.set_model_version_tag(self.name, str(info.version), TAG_DECISION, decision.reason[:_MAX_REASON])
            self._audit("decline", info.version, current, decision.reason, info.metrics, decision.evidence)
        return decision

    def rollback(self, reason: str) -> int:
        """Make the previous champion (by the history) champion again; returns its version.

        Raises:
            RegistryError: no champion, or no earlier champion to go back to.
        """
        current = self.champion()
        if current is None:
            raise RegistryError(f"model {self.name!r} has no champion to roll back")
        target = rollback_target(self.history(), current)
        if target is None:
            raise RegistryError(f"model {self.name!r}: champion v{current} has no previous champion in the history")
        info = self.get_version(target)
        self.client.set_registered_model_alias(self.name, CHAMPION, str(target))
        self.client.set_model_version_tag(self.name, str(current), TAG_ROLLED_BACK, reason[:_MAX_REASON])
        self._audit("rollback", target, current, reason, info.metrics)
        return target

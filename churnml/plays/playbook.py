"""Playbooks as configuration: each alert cause maps to one recommended play and the words a CSM reads."""

from __future__ import annotations

from churnml.config import PlaysConfig, PlayText


def play_for(cause: str, cfg: PlaysConfig) -> PlayText:
    """The play configured for `cause`.

    Raises:
        KeyError: the playbook has no entry for the cause (config validation prevents this for known causes).
    """
    try:
        return cfg.playbook[cause]
    except KeyError:
        raise KeyError(f"plays.playbook has no play for cause {cause!r}; known: {sorted(cfg.playbook)}") from None


def plays(cfg: PlaysConfig) -> list[str]:
    """Every distinct play the playbook can recommend, sorted."""
    return sorted({p.play for p in cfg.playbook.values()})

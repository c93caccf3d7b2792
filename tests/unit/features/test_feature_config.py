"""The `features.event_types` / `features.buyer` settings read from YAML as a user writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnml.config import ConfigError, load_settings


def _load(tmp_path: Path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_settings(path, environ={})


def test_yaml_on_off_and_top_n(tmp_path: Path) -> None:
    s = _load(tmp_path, "features:\n  buyer: on\n  event_types:\n    select: top 3\n"
                        "    ratios: [[unfriend, newfriend]]\n  event_type_names: {unfriend: unfriends}\n")
    assert s.features.buyer.mode == "on" and s.features.event_types.select == "top 3"
    assert s.features.event_types.ratios == [("unfriend", "newfriend")]
    assert s.features.event_type_names == {"unfriend": "unfriends"}
    assert _load(tmp_path, "features:\n  buyer: off\n").features.buyer.mode == "off"
    assert _load(tmp_path, "features:\n  buyer: {mode: auto, min_customers: 5}\n").features.buyer.min_customers == 5


def test_unknown_and_bad_values_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="selct"):
        _load(tmp_path, "features:\n  event_types:\n    selct: all\n")
    with pytest.raises(ConfigError, match="select"):
        _load(tmp_path, "features:\n  event_types:\n    select: most\n")
    with pytest.raises(ConfigError, match="buyer"):
        _load(tmp_path, "features:\n  buyer: sometimes\n")

"""A typo anywhere in a config file fails with the file, the section and the closest valid key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from churnml.config import Settings, load_settings
from churnml.config_check import ConfigError, _models_in, stray_env, unknown_keys

SECTIONS = [name for name, f in Settings.model_fields.items() if _models_in(f.annotation)[1] == "model"]


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_every_section_is_walked() -> None:
    assert {"data", "features", "labels", "scoring", "serving", "crm", "retrain"} <= set(SECTIONS)


@pytest.mark.parametrize("section", SECTIONS)
def test_typo_in_any_section_names_file_section_and_suggestion(tmp_path: Path, section: str) -> None:
    model = _models_in(Settings.model_fields[section].annotation)[0]
    field = next(iter(model.model_fields))
    typo = field[:-1] + ("z" if field[-1] != "z" else "q")
    path = _write(tmp_path, {section: {typo: 1}})
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    text = str(err.value)
    assert str(path) in text and f"`{typo}`" in text and f"section `{section}`" in text
    assert f"Did you mean `{field}`?" in text


def test_the_two_reported_typos(tmp_path: Path) -> None:
    path = _write(tmp_path, {"labels": {"horizon_dayz": 30}, "serving": {"api_key": "x"}})
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    text = str(err.value)
    assert "2 unknown keys" in text
    assert "Did you mean `horizon_days`?" in text and "Did you mean `api_keys`?" in text


def test_nested_models_inside_lists_and_sections_are_checked() -> None:
    found = unknown_keys(Settings, {"serving": {"api_keys": [{"name": "a", "hash": "scrypt$x", "rol": "read"}]},
                                    "scoring": {"bands": {"hihg": 0.3}}})
    assert [(u.section, u.key, u.suggestion) for u in found] == [
        ("serving.api_keys[0]", "rol", "role"), ("scoring.bands", "hihg", "high")]


def test_wrong_type_reads_as_a_sentence(tmp_path: Path) -> None:
    path = _write(tmp_path, {"labels": {"horizon_days": "soon"}})
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "`labels.horizon_days`" in str(err.value) and "'soon'" in str(err.value)


def test_shipped_configs_load(tmp_path: Path) -> None:
    assert load_settings(Path("configs/default.yaml"), environ={}).labels.horizon_days > 0


def test_stray_environment_variables_are_warned(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    env = {"CHURNML_LABELS__HORIZON_DAYZ": "3", "CHURNML_WORK_DIR": "w", "CHURNML_SERVING__PORT": "1", "HOME": "/"}
    assert stray_env(Settings, env) == [
        "environment variable CHURNML_LABELS__HORIZON_DAYZ matches no setting "
        "(did you mean CHURNML_LABELS__HORIZON_DAYS?); it is ignored"]
    with caplog.at_level(logging.WARNING):
        load_settings(_write(tmp_path, {}), environ=env)
    assert "CHURNML_LABELS__HORIZON_DAYZ" in caplog.text

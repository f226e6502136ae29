"""The settings model: TOML + environment, validation with one-line errors, safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobshadow.config import Settings, iter_fields, load_settings
from jobshadow.errors import ConfigError


def test_defaults_are_safe(tmp_path: Path) -> None:
    s = load_settings(environ={"JOBSHADOW_HOME": str(tmp_path)})
    assert s.home == tmp_path
    assert s.capture.scope.allow_apps == ()  # default deny: nothing in scope
    assert s.segments.flush_seconds <= 1.0


def test_home_defaults_to_xdg_data_dir(tmp_path: Path) -> None:
    s = load_settings(environ={"XDG_DATA_HOME": str(tmp_path)})
    assert s.home == tmp_path / "jobshadow"


def test_file_then_environment_override(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[capture.scope]\nallow_apps = ["xterm"]\n[segments]\nrotate_seconds = 30\n')
    s = load_settings(cfg, environ={"JOBSHADOW_SEGMENTS__ROTATE_SECONDS": "12.5",
                                    "JOBSHADOW_CAPTURE__SCOPE__DENY_APPS": '["firefox"]'})
    assert s.capture.scope.allow_apps == ("xterm",)
    assert s.capture.scope.deny_apps == ("firefox",)
    assert s.segments.rotate_seconds == 12.5


def test_config_path_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[capture]\nencoder_crf = 23\n")
    assert load_settings(environ={"JOBSHADOW_CONFIG": str(cfg)}).capture.encoder_crf == 23


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[capture\n", {}, "not valid TOML"),
        ("[capture]\ngrab_intervall_ms = 5\n", {}, "unknown field `grab_intervall_ms`"),
        ("[capture]\ngrab_interval_ms = 1\n", {}, "capture.grab_interval_ms"),
        ("[capture]\nencoder_preset = 'placebo'\n", {}, "capture.encoder_preset"),
        ("", {"JOBSHADOW_SEGMENTS__FLUSH_SECONDS": "5"}, "segments.flush_seconds"),
        ("", {"JOBSHADOW_CAPTURE__SCOPE__ALLOW_APPS": "xterm"}, "capture.scope.allow_apps"),
        ("", {"JOBSHADOW_NOPE__X": "1"}, "unknown field `nope`"),
    ],
)
def test_bad_settings_give_one_line_errors(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg, environ=env)
    text = str(exc.value)
    assert message in text and "\n" not in text


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_every_setting_has_a_help_line() -> None:
    rows = iter_fields(Settings)
    assert len(rows) >= 15
    assert all(help_ for _, _, help_ in rows), [name for name, _, h in rows if not h]


def test_every_setting_is_documented() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    missing = [name for name, _, _ in iter_fields(Settings) if f"`{name}`" not in doc]
    assert not missing, f"docs/configuration.md lacks {missing} (regenerate: make docs)"

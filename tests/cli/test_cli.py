"""The CLI contract: help everywhere, one-line errors, JSON where machines read."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jobshadow.cli.main import cli


def all_commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, (*path, name))
        else:
            out.append((*path, name))
    return out


@pytest.mark.parametrize("path", all_commands())
def test_help_everywhere(path: tuple[str, ...]) -> None:
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output


def run(args: list[str], home: Path, **env: str) -> tuple[int, str, str]:
    runner = CliRunner()
    res = runner.invoke(cli, args, env={"JOBSHADOW_HOME": str(home), "JOBSHADOW_CONFIG": "", **env})
    return res.exit_code, res.stdout, res.stderr


def test_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[capture\n")
    code, _, err = run(["--config", str(bad), "config", "show"], tmp_path / "h")
    assert code == 1 and err.startswith("Error: ") and err.count("\n") == 1
    code, _, err = run(["record", "status"], tmp_path / "h")
    assert code == 1 and "no recorder is running" in err
    code, _, err = run(["segments", "inspect", "nope"], tmp_path / "h")
    assert code == 1 and "no segment" in err


def test_record_start_refuses_without_consent_or_scope(tmp_path: Path) -> None:
    home = tmp_path / "h"
    code, _, err = run(["record", "start", "--display", ":99999"], home)
    assert code == 1 and "no consent" in err
    assert run(["consent", "give", "--yes"], home)[0] == 0
    code, _, err = run(["record", "start", "--display", ":99999"], home)
    assert code == 1 and "nothing is in capture scope" in err


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DISPLAY": ""}, "DISPLAY is not set"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "Wayland session"),
        ({"DISPLAY": ":99999"}, "cannot connect to X display :99999"),
    ],
)
def test_no_usable_display_says_what_to_do(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    # A real process, as a person would run it (python-xlib leaks sockets on failed connects).
    from tests.recording import cli as proc_cli
    from tests.recording import jobshadow_env

    e = jobshadow_env(tmp_path / "h", capture__scope__allow_apps='["xterm"]')
    e.pop("DISPLAY", None)
    e.update(env)
    assert proc_cli(e, "consent", "give", "--yes").returncode == 0
    res = proc_cli(e, "record", "start")
    assert res.returncode == 1 and needle in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_pause_duration_is_validated(tmp_path: Path) -> None:
    code, _, err = run(["record", "pause", "--for", "soon"], tmp_path / "h")
    assert code == 2 and "not a duration" in err


def test_redact_text_json_contract(tmp_path: Path) -> None:
    text = "mail me at jane.doe@example.com, key AKIAZ4QXW7PLM3NRT2VB"
    res = CliRunner().invoke(cli, ["redact", "text"], input=text)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    kinds = [f["kind"] for f in out["findings"]]
    assert kinds == ["email", "aws_access_key"]
    for f in out["findings"]:
        assert text[f["start"] : f["end"]] in ("jane.doe@example.com", "AKIAZ4QXW7PLM3NRT2VB")
    assert "jane.doe" not in out["text"] and "AKIAZ4" not in out["text"]


def test_redact_rejects_non_utf8() -> None:
    res = CliRunner().invoke(cli, ["redact", "text"], input=b"\xff\xfe bad")
    assert res.exit_code == 1 and "not UTF-8" in res.stderr


def test_consent_show_and_status_json(tmp_path: Path) -> None:
    code, out, _ = run(["consent", "show"], tmp_path / "h")
    assert code == 0 and "Your rights" in out
    code, out, _ = run(["consent", "status", "--json"], tmp_path / "h")
    assert code == 0 and json.loads(out)["state"] == "none"


def test_segments_list_json_empty(tmp_path: Path) -> None:
    code, out, _ = run(["segments", "list", "--json"], tmp_path / "h")
    assert code == 0 and json.loads(out) == []

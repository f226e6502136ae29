"""The single settings model: TOML file, then ``JOBSHADOW_*`` environment overrides, then validation.

Used in every trust zone. Each field has a type, a default and a help line (``description``); the
docs test checks every field is documented in ``docs/configuration.md``. Defaults are the safe
ones: nothing is in capture scope until configured, the server binds to loopback only.

Where settings come from, lowest to highest precedence:

1. defaults in this module;
2. the TOML file named by ``--config`` or ``JOBSHADOW_CONFIG`` (absent file: an error, not a
   silent fallback);
3. environment variables ``JOBSHADOW_<SECTION>__<KEY>`` (e.g. ``JOBSHADOW_SEGMENTS__ROTATE_SECONDS=30``),
   whose values are parsed as TOML scalars or arrays (``'["xterm"]'``), falling back to a string;
4. ``JOBSHADOW_HOME`` for the state directory.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobshadow.errors import ConfigError

ENV_PREFIX = "JOBSHADOW_"
# Variables with the prefix that are not settings overrides.
_NOT_OVERRIDES = {"JOBSHADOW_HOME", "JOBSHADOW_CONFIG"}


class _Section(BaseModel):
    # Unknown keys are an error: a typo in a privacy setting must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScopeSettings(_Section):
    """Which windows may be captured at all. Default deny: with no allow rule nothing is captured."""

    allow_apps: tuple[str, ...] = Field(
        default=(),
        description="Glob patterns matched case-insensitively against WM_CLASS instance or class; only "
        "windows of these applications are captured.",
    )
    deny_apps: tuple[str, ...] = Field(
        default=(), description="Glob patterns of applications never captured, even when allowed."
    )
    allow_titles: tuple[str, ...] = Field(
        default=(),
        description="Regular expressions; when non-empty, an allowed app's window is captured only if "
        "its title matches one of them.",
    )
    deny_titles: tuple[str, ...] = Field(
        default=(), description="Regular expressions; a window whose title matches any is never captured."
    )


class CaptureSettings(_Section):
    """How the recorder samples the screen."""

    display: str | None = Field(
        default=None, description="X11 display to record, e.g. ':0'. Default: the DISPLAY variable."
    )
    scope: ScopeSettings = Field(default_factory=ScopeSettings, description="Capture scope.")
    grab_interval_ms: int = Field(
        default=40,
        ge=5,
        le=2000,
        description="Least time between two screen grabs while the screen changes. Grabs are cheap "
        "(shared memory); this bounds how stale the before-action frame can be.",
    )
    change_frame_interval_ms: int = Field(
        default=500,
        ge=50,
        le=60000,
        description="Least time between two encoded frames taken only because the screen changed "
        "(frames before actions are not limited by it).",
    )
    settle_ms: int = Field(
        default=150,
        ge=0,
        le=5000,
        description="A changed screen that stays unchanged this long is encoded as a settled frame.",
    )
    encoder_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        default="veryfast", description="x264 preset for screen frames."
    )
    encoder_crf: int = Field(default=28, ge=0, le=51, description="x264 constant rate factor.")
    frame_queue: int = Field(
        default=3,
        ge=1,
        le=64,
        description="Frames waiting for the encoder; when full, new change-only frames are dropped "
        "and counted (memory stays bounded).",
    )
    input_queue: int = Field(
        default=1_000_000,
        ge=1000,
        description="Input events waiting to be written; sized so bursts are never dropped.",
    )


class SegmentSettings(_Section):
    """How the recording is cut into MCAP segments."""

    rotate_seconds: float = Field(default=60.0, gt=0, le=3600, description="Start a new segment after this long.")
    rotate_bytes: int = Field(
        default=64 * 1024 * 1024, ge=64 * 1024, description="Start a new segment after this many bytes."
    )
    flush_seconds: float = Field(
        default=0.5,
        gt=0,
        le=1.0,
        description="Buffered records are sealed and flushed to disk at least this often; a killed "
        "recorder loses at most this much.",
    )


class ProtectSettings(_Section):
    """On-device privacy filters."""

    holdback_ms: int = Field(
        default=300,
        ge=0,
        le=5000,
        description="A typed word is written this long after the space, Return or Tab that ends it, "
        "once the detector has seen it whole.",
    )
    max_hold_ms: int = Field(
        default=10000,
        ge=500,
        le=120000,
        description="Longest a word still being typed (or a run of digit groups that may be a card "
        "or phone number) is held back before it is checked and written anyway.",
    )
    keyring: Literal["auto", "file"] = Field(
        default="auto",
        description="Where the spool key lives: 'auto' uses the Secret Service when one answers, "
        "else a 0600 key file under JOBSHADOW_HOME; 'file' always uses the key file.",
    )


class Settings(_Section):
    """Every setting jobshadow reads."""

    home: Path = Field(
        default_factory=lambda: default_home(),
        description="State directory (spool, keys, sockets, logs). Env: JOBSHADOW_HOME.",
    )
    capture: CaptureSettings = Field(default_factory=CaptureSettings, description="Recorder capture.")
    segments: SegmentSettings = Field(default_factory=SegmentSettings, description="Segment files.")
    protect: ProtectSettings = Field(default_factory=ProtectSettings, description="Device privacy.")


def default_home() -> Path:
    """``$XDG_DATA_HOME/jobshadow``, or ``~/.local/share/jobshadow``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "jobshadow"


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _NOT_OVERRIDES:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(f"{name}: empty section in environment override name")
        node = out
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: conflicts with another override")
            node = child
        node[path[-1]] = _parse_env_value(raw)
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{source}: {where}: {first['msg']}{more}"


def load_settings(config_file: Path | str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Load and validate settings; raises ConfigError with a one-line reason."""
    env = dict(os.environ if environ is None else environ)
    path = config_file if config_file is not None else env.get("JOBSHADOW_CONFIG")
    data: dict[str, Any] = {}
    source = "defaults"
    if path:
        p = Path(path)
        source = str(p)
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {p} is a directory") from None
        except PermissionError:
            raise ConfigError(f"config file {p} is not readable") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p} is not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p} is not valid UTF-8 TOML") from None
    overrides = _env_overrides(env)
    if overrides:
        source = f"{source} + environment"
    data = _merge(data, overrides)
    if env.get("JOBSHADOW_HOME"):
        data["home"] = env["JOBSHADOW_HOME"]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    return settings.model_copy(update={"home": settings.home.expanduser().absolute()})


def iter_fields(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted name, default repr, help line) for every leaf setting; drives the docs and their test."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        dotted = f"{prefix}{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(iter_fields(ann, f"{dotted}."))
            continue
        default = "(computed)" if field.default_factory is not None else repr(field.default)
        rows.append((dotted, default, field.description or ""))
    return rows

"""The single settings model: TOML file, then ``JOBSHADOW_*`` environment overrides, then validation.

Used in every trust zone. Each field has a type, a default and a help line (``Meta.description``);
the docs test checks every field is documented in ``docs/configuration.md``. Defaults are the safe
ones: nothing is in capture scope until configured, the server binds to loopback only.

Where settings come from, lowest to highest precedence:

1. defaults in this module;
2. the TOML file named by ``--config`` or ``JOBSHADOW_CONFIG`` (absent file: an error, not a
   silent fallback);
3. environment variables ``JOBSHADOW_<SECTION>__<KEY>`` (e.g. ``JOBSHADOW_SEGMENTS__ROTATE_SECONDS=30``),
   whose values are parsed as TOML scalars or arrays (``'["xterm"]'``), falling back to a string;
4. ``JOBSHADOW_HOME`` for the state directory.

msgspec validates (types, ranges, unknown keys) — it is a fraction of the recorder's memory that a
heavier validation library would be, and the recorder runs on every laptop all day.
"""

from __future__ import annotations

import os
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from jobshadow.durations import Duration
from jobshadow.errors import ConfigError

ENV_PREFIX = "JOBSHADOW_"
# Variables with the prefix that are not settings overrides.
_NOT_OVERRIDES = {"JOBSHADOW_HOME", "JOBSHADOW_CONFIG"}


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Unknown keys are an error: a typo in a privacy setting must not be silently ignored."""


class ScopeSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which windows may be captured at all. Default deny: with no allow rule nothing is captured."""

    allow_apps: Annotated[tuple[str, ...], Meta(
        description="Glob patterns matched case-insensitively against WM_CLASS instance, class or process "
        "name; only windows of these applications are captured.")] = ()
    deny_apps: Annotated[tuple[str, ...], Meta(
        description="Glob patterns of applications never captured, even when allowed.")] = ()
    allow_titles: Annotated[tuple[str, ...], Meta(
        description="Regular expressions; when non-empty, an allowed app's window is captured only if its "
        "title matches one of them.")] = ()
    deny_titles: Annotated[tuple[str, ...], Meta(
        description="Regular expressions; a window whose title matches any is never captured.")] = ()


class CaptureSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the recorder samples the screen."""

    display: Annotated[str | None, Meta(
        description="X11 display to record, e.g. ':0'. Default: the DISPLAY variable.")] = None
    scope: Annotated[ScopeSettings, Meta(description="Capture scope.")] = msgspec.field(
        default_factory=ScopeSettings)
    grab_interval_ms: Annotated[int, Meta(ge=5, le=2000, description=(
        "Least time between two screen grabs while the screen changes. Grabs are cheap (shared memory); "
        "this bounds how stale the frame before an action can be."))] = 80
    change_frame_interval_ms: Annotated[int, Meta(ge=50, le=60000, description=(
        "Least time between two encoded frames taken only because the screen changed (frames before "
        "actions are not limited by it)."))] = 1000
    settle_ms: Annotated[int, Meta(ge=0, le=5000, description=(
        "A changed screen that stays unchanged this long is encoded as a settled frame."))] = 150
    encoder_preset: Annotated[Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"], Meta(
        description="x264 preset for screen frames.")] = "veryfast"
    encoder_crf: Annotated[int, Meta(ge=0, le=51, description=(
        "x264 constant rate factor (lower: better, larger)."))] = 28
    frame_queue: Annotated[int, Meta(ge=1, le=64, description=(
        "Frames waiting for the encoder; when full, new frames are dropped and counted (memory stays "
        "bounded)."))] = 2
    input_queue: Annotated[int, Meta(ge=1000, description=(
        "Input events waiting to be written; sized so bursts are never dropped."))] = 1_000_000


class SegmentSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the recording is cut into MCAP segments."""

    rotate_seconds: Annotated[float, Meta(gt=0, le=3600, description="Start a new segment after this long.")] = 60.0
    rotate_bytes: Annotated[int, Meta(ge=64 * 1024, description=(
        "Start a new segment after this many bytes."))] = 64 * 1024 * 1024
    flush_seconds: Annotated[float, Meta(gt=0, le=1.0, description=(
        "Buffered records are sealed and flushed to disk at least this often; a killed recorder loses at "
        "most this much (plus any text still held back)."))] = 0.5


class ProtectSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """On-device privacy filters."""

    holdback_ms: Annotated[int, Meta(ge=0, le=5000, description=(
        "A typed word is written this long after the space, Return or Tab that ends it, once the detector "
        "has seen it whole."))] = 300
    max_hold_ms: Annotated[int, Meta(ge=500, le=120000, description=(
        "Longest a word still being typed (or a run of digit groups that may be a card or phone number) "
        "is held back before it is checked and written anyway."))] = 10000
    keyring: Annotated[Literal["auto", "file"], Meta(description=(
        "Where the spool key lives: 'auto' uses the Secret Service when one answers, else a 0600 key file "
        "under JOBSHADOW_HOME; 'file' always uses the key file."))] = "auto"


class ServerSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The collector and control plane (`jobshadow server start`)."""

    host: Annotated[str, Meta(description="Address to bind; loopback by default.")] = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535, description="TCP port.")] = 8787
    database_url: Annotated[str, Meta(description=(
        "SQLAlchemy URL of the control-plane database; empty: SQLite under JOBSHADOW_HOME/server "
        "(postgresql://… works the same)."))] = ""
    object_store_url: Annotated[str, Meta(description=(
        "fsspec URL of the object store for landed blobs; empty: a folder under JOBSHADOW_HOME/server "
        "(s3://… works with s3fs installed)."))] = ""
    catalog_url: Annotated[str, Meta(description=(
        "SQLAlchemy URL of the Iceberg SQL catalog; empty: SQLite under JOBSHADOW_HOME/server."))] = ""
    warehouse_url: Annotated[str, Meta(description=(
        "Warehouse location of the Iceberg tables; empty: a folder under JOBSHADOW_HOME/server."))] = ""
    max_segment_bytes: Annotated[int, Meta(ge=1024, description=(
        "Largest upload accepted, in bytes (a segment is at most 64 MB plus sealing overhead)."))] = 256 * 2**20
    max_chunk_bytes: Annotated[int, Meta(ge=1024, le=64 * 2**20, description=(
        "Largest upload chunk accepted in one request, in bytes."))] = 4 * 2**20
    clock_skew: Annotated[Duration, Meta(description=(
        "Signed requests older or newer than this are refused (replay window)."))] = Duration(300)
    enroll_code_ttl: Annotated[Duration, Meta(description="How long an enrolment code stays valid.")] = Duration(
        86400)
    commit_interval_ms: Annotated[int, Meta(ge=10, le=60000, description=(
        "Landed segments are committed to the Iceberg landing table in micro-batches this often."))] = 250
    long_poll: Annotated[Duration, Meta(description=(
        "Longest a device's configuration poll is held open waiting for a change."))] = Duration(20)
    workers: Annotated[int, Meta(ge=0, le=64, description=(
        "Collector processes sharing the port (one Python process uses about one core); 0: one per "
        "CPU core."))] = 0
    door_host: Annotated[str, Meta(description=(
        "Address the governance door binds (`server start` runs it beside the collector; `server door` "
        "alone): people's signed requests and governed queries. Loopback by default; an internal "
        "address to reach it from other machines, never the internet-facing one."))] = "127.0.0.1"
    door_port: Annotated[int, Meta(ge=0, le=65535, description=(
        "TCP port of the governance door; 0: `server start` runs the collector only."))] = 8788
    metrics_port: Annotated[int, Meta(ge=0, le=65535, description=(
        "Loopback port where Prometheus metrics (summed over the workers) are served at /metrics; "
        "the collector's own port never serves them. 0: not served."))] = 0


class GovernSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The governed lake: policy, keys, audit, exposure scan (server side)."""

    kek_file: Annotated[str, Meta(description=(
        "Key-encryption key file wrapping every subject's data key (0600); empty: "
        "JOBSHADOW_HOME/server/keys/kek.key, created on first use."))] = ""
    audit_heads_dir: Annotated[str, Meta(description=(
        "Where signed audit tree heads are published (outside the audit database, ideally "
        "write-once storage); `audit verify` checks the log against them. Empty: "
        "JOBSHADOW_HOME/server/audit-heads."))] = ""
    audit_signer: Annotated[str, Meta(description=(
        "Who signs audit checkpoints. Empty: a 0600 key file JOBSHADOW_HOME/server/keys/"
        "audit-signing.pem (one-machine use; `govern scan` warns). 'file:PATH': a key file kept "
        "elsewhere. 'command:PROGRAM ARGS': a KMS or HSM behind a program that prints the public "
        "key for `ARGS public-key` and signs stdin for `ARGS sign` (see docs/audit.md)."))] = ""
    audit_witnesses: Annotated[list[str], Meta(description=(
        "Witnesses that co-sign audit checkpoints, one 'VERIFIER-KEY URL' each (as printed by "
        "`jobshadow audit witness init`); checkpoints are sent to them as they are signed."))] = (
        msgspec.field(default_factory=list))
    audit_quorum: Annotated[int, Meta(ge=0, description=(
        "Witnesses that must confirm the log for `audit verify` to pass; 0: a majority of "
        "audit_witnesses (with none configured, only the operator's own signatures are checked)."))] = 0
    audit_head_interval: Annotated[float, Meta(gt=0, le=60, description=(
        "While records are appended, a checkpoint is signed and sent to the witnesses at least "
        "this often (seconds): the unwitnessed tail of the log is about this long."))] = 2.0
    max_group_size: Annotated[int, Meta(ge=1, description=(
        "The exposure scan flags a grant to any group with more members than this."))] = 50
    broad_groups: Annotated[list[str], Meta(description=(
        "Groups that stand for everyone (e.g. all-employees); a grant to one on sensitive labels "
        "is a finding whatever its size."))] = msgspec.field(
        default_factory=lambda: ["group:all-employees", "group:everyone", "group:all", "group:staff"])
    pause_on_findings: Annotated[bool, Meta(description=(
        "When the exposure scan finds a problem, pause the programme (the kill switch) until an "
        "administrator resumes it."))] = True
    scan_sample_values: Annotated[int, Meta(ge=1, le=100000, description=(
        "Sensitive values sampled per sealed column when the exposure scan looks for plaintext."))] = 200
    query_max_rows: Annotated[int, Meta(ge=1, description=(
        "Most rows a query over HTTP returns."))] = 100000
    query_timeout: Annotated[Duration, Meta(description=(
        "A governed query (CLI or HTTP) running longer than this is cancelled."))] = Duration(30)
    query_memory_mb: Annotated[int, Meta(ge=16, description=(
        "Memory a governed query's SQL engine may use, in MiB; past it the query fails."))] = 1024


class DatasetSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The dataset builder (`jobshadow dataset build`)."""

    idle_gap: Annotated[Duration, Meta(description=(
        "Without task markers, a pause this long between actions starts a new task."))] = Duration(60)
    app_switch_min: Annotated[Duration, Meta(description=(
        "Without task markers, switching to another application that keeps focus at least this long "
        "starts a new task."))] = Duration(30)
    wait_gap: Annotated[Duration, Meta(description=(
        "A pause this long while the screen changes becomes a `wait` step."))] = Duration(3)
    write_gap: Annotated[Duration, Meta(description=(
        "A typing pause this long ends one `write` and starts the next."))] = Duration(5)
    image_format: Annotated[str, Meta(pattern="^(jpeg|png)$", description=(
        "How step frames are stored: jpeg (quality 92, ~200 KB at 1080p) or png (lossless, slower)."))] = "jpeg"
    engine: Annotated[str, Meta(pattern="^(local|ray)$", description=(
        "Where frames are decoded: local (this process) or ray (Ray Data; RAY_ADDRESS for a cluster)."))] = "local"


class UploadSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The device's background uploader."""

    enabled: Annotated[bool, Meta(description=(
        "Upload finished segments when this device is enrolled."))] = True
    auto_approve_after: Annotated[Duration, Meta(description=(
        "A finished segment waits this long (e.g. 10m) before it may be uploaded, so its owner can "
        "delete it first."))] = Duration(600)
    chunk_bytes: Annotated[int, Meta(ge=16 * 1024, le=64 * 2**20, description=(
        "Upload chunk size in bytes (each chunk is a separately signed, resumable request); a "
        "segment no larger than this goes in a single request."))] = 4 * 2**20
    bandwidth_bytes_per_s: Annotated[int, Meta(ge=0, description=(
        "Upload bandwidth cap in bytes per second; 0 means no cap."))] = 4 * 2**20
    retry_initial: Annotated[Duration, Meta(description="First retry delay after a transient failure.")] = Duration(1)
    retry_max: Annotated[Duration, Meta(description="Longest retry delay (exponential backoff with jitter).")] = (
        Duration(300))
    poll_timeout: Annotated[Duration, Meta(description=(
        "How long a configuration poll may wait for the server to report a change."))] = Duration(20)


def default_home(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/jobshadow``, or ``~/.local/share/jobshadow``."""
    xdg = (os.environ if environ is None else environ).get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "jobshadow"


class Settings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Every setting jobshadow reads."""

    home: Annotated[Path, Meta(description=(
        "State directory (spool, keys, sockets, logs). Env: JOBSHADOW_HOME. "
        "Default: $XDG_DATA_HOME/jobshadow."))] = msgspec.field(default_factory=default_home)
    capture: Annotated[CaptureSettings, Meta(description="Recorder capture.")] = msgspec.field(
        default_factory=CaptureSettings)
    segments: Annotated[SegmentSettings, Meta(description="Segment files.")] = msgspec.field(
        default_factory=SegmentSettings)
    protect: Annotated[ProtectSettings, Meta(description="Device privacy.")] = msgspec.field(
        default_factory=ProtectSettings)
    upload: Annotated[UploadSettings, Meta(description="Device uploads.")] = msgspec.field(
        default_factory=UploadSettings)
    server: Annotated[ServerSettings, Meta(description="Collector and control plane.")] = msgspec.field(
        default_factory=ServerSettings)
    govern: Annotated[GovernSettings, Meta(description="Governed lake.")] = msgspec.field(
        default_factory=GovernSettings)
    datasets: Annotated[DatasetSettings, Meta(description="Dataset builder.")] = msgspec.field(
        default_factory=DatasetSettings)


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


def _describe(exc: msgspec.ValidationError, source: str) -> str:
    # msgspec says "Expected `int` >= 5 - at `$.capture.grab_interval_ms`"; lead with the setting.
    text = str(exc)
    where = ""
    if " - at `$" in text:
        text, _, loc = text.rpartition(" - at `$")
        where = loc.rstrip("`").lstrip(".")
    return f"{source}: {where or '(top level)'}: {text}"


def _decode_extra(typ: type, obj: Any) -> Any:
    if typ is Path and isinstance(obj, str):
        if not obj or "\x00" in obj:
            raise ValueError("not a usable path")
        return Path(obj)
    if typ is Duration:
        return Duration.parse(obj)
    raise NotImplementedError(typ)


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
    elif "home" not in data:
        data["home"] = str(default_home(env))
    try:
        settings = msgspec.convert(data, Settings, strict=False, dec_hook=_decode_extra)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    return msgspec.structs.replace(settings, home=settings.home.expanduser().absolute())


def _encode_extra(obj: Any) -> Any:
    return float(obj) if isinstance(obj, Duration) else str(obj)


def settings_dict(settings: Settings) -> dict[str, Any]:
    """Plain JSON-able form (``config show --json``)."""
    out: dict[str, Any] = msgspec.to_builtins(settings, enc_hook=_encode_extra)
    return out


def settings_from_dict(data: dict[str, Any]) -> Settings:
    """The inverse of ``settings_dict`` (a server hands its settings to its worker processes)."""
    return msgspec.convert(data, Settings, strict=False, dec_hook=_decode_extra)


def iter_fields(model: type[msgspec.Struct] = Settings, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted name, default, help line) for every leaf setting; drives the docs and their test."""
    rows: list[tuple[str, str, str]] = []
    hints = typing.get_type_hints(model, include_extras=True)
    for field in msgspec.structs.fields(model):
        dotted = f"{prefix}{field.name}"
        hint = hints[field.name]
        base, meta = hint, None
        if typing.get_origin(hint) is Annotated:
            base, *extras = typing.get_args(hint)
            meta = next((m for m in extras if isinstance(m, Meta)), None)
        if isinstance(base, type) and issubclass(base, msgspec.Struct):
            rows.extend(iter_fields(base, f"{dotted}."))
            continue
        default = "(computed)" if field.default_factory is not msgspec.NODEFAULT else repr(field.default)
        rows.append((dotted, default, (meta.description if meta else None) or ""))
    return rows

"""A person's identity with the governance door, and the signed client the CLI uses (any machine).

``jobshadow login --server URL --code CODE`` makes an Ed25519 key pair here (the private key
never leaves this machine: 0600 PEM under ``JOBSHADOW_HOME/keys/person.pem``), redeems the
one-time code at the door, which registers the public key, and keeps the answer (who the door
takes you for, your roles, its URL) in ``JOBSHADOW_HOME/state/person.json``. Every request after
that is signed over method, path, body hash, time and a nonce (``jobshadow.protocol``).

Uses only the standard library (``http.client``): the CLI on a reviewer's laptop needs none of
the server stack.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jobshadow.errors import JobshadowError, RequestRejected, StateError
from jobshadow.home import Home, write_private
from jobshadow.protocol import sign_principal_request
from jobshadow.upload.identity import check_server_url

NOT_LOGGED_IN = "not logged in: run `jobshadow login --server URL --code CODE` with the code you were given"


@dataclass(frozen=True)
class PersonIdentity:
    principal: str
    roles: tuple[str, ...]
    server_url: str
    logged_in_at: str
    key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"PersonIdentity(principal={self.principal!r}, server_url={self.server_url!r}, key=***)"

    def as_json(self) -> dict[str, Any]:
        return {"principal": self.principal, "roles": list(self.roles), "server_url": self.server_url,
                "logged_in_at": self.logged_in_at}


def _paths(home: Home) -> tuple[Path, Path]:
    return home.state_dir / "person.json", home.keys_dir / "person.pem"


def load_person(home: Home) -> PersonIdentity | None:
    meta_path, key_path = _paths(home)
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if os.stat(key_path).st_mode & 0o077:
            raise StateError(f"{key_path} is readable by other users; fix with: chmod 600 {key_path}")
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, KeyError) as exc:
        raise StateError(f"the login in {home.root} is damaged ({type(exc).__name__}); log in again") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StateError("the login key is not an Ed25519 key; log in again")
    return PersonIdentity(meta["principal"], tuple(meta["roles"]), meta["server_url"], meta["logged_in_at"], key)


def require_person(home: Home) -> PersonIdentity:
    who = load_person(home)
    if who is None:
        raise JobshadowError(NOT_LOGGED_IN)
    return who


def login(home: Home, server_url: str, code: str) -> PersonIdentity:
    """Make a key pair, redeem ``code`` at the door, and keep the login."""
    home.ensure()
    url = check_server_url(server_url)
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    status, _, data = _request(url, "POST", "/v1/login", json.dumps({"code": code.strip(), "public_key": pub.hex()})
                               .encode(), {}, 30.0)
    reply = _answer(status, data)
    meta_path, key_path = _paths(home)
    write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    who = PersonIdentity(str(reply["principal"]), tuple(reply["roles"]), url,
                         datetime.now(UTC).isoformat(timespec="seconds"), key)
    write_private(meta_path, json.dumps(who.as_json(), indent=2).encode())
    return who


def logout(home: Home) -> bool:
    """Forget this machine's login (the key is deleted; the door keeps the public half until the next login)."""
    meta_path, key_path = _paths(home)
    found = meta_path.exists()
    meta_path.unlink(missing_ok=True)
    key_path.unlink(missing_ok=True)
    return found


def _request(base: str, method: str, path: str, body: bytes, headers: dict[str, str],
             timeout: float) -> tuple[int, dict[str, str], bytes]:
    parsed = urllib.parse.urlsplit(base)
    host, port = parsed.hostname or "127.0.0.1", parsed.port
    conn: http.client.HTTPConnection
    if parsed.scheme == "https":
        conn = http.client.HTTPSConnection(host, port or 443, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port or 80, timeout=timeout)
    try:
        conn.request(method, parsed.path.rstrip("/") + path, body=body,
                     headers={"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise JobshadowError(f"cannot reach the server at {base} ({type(exc).__name__})") from None
    finally:
        conn.close()


def _answer(status: int, data: bytes) -> Any:
    try:
        doc = json.loads(data) if data else {}
    except ValueError:
        doc = {}
    if status >= 400:
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            raise RequestRejected(status, str(err.get("code", "error")), str(err.get("message", "")))
        message = doc.get("message") if isinstance(doc, dict) else None
        raise RequestRejected(status, str(err or "http_error"), str(message or data[:200].decode("utf-8", "replace")))
    return doc


class DoorClient:
    """Signed requests by the logged-in person. ``timeout``: curation and dataset builds take a while."""

    def __init__(self, who: PersonIdentity, timeout: float = 3600.0) -> None:
        self.who = who
        self.timeout = timeout

    def _signed(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        target = urllib.parse.urlsplit(self.who.server_url).path.rstrip("/") + path
        headers = sign_principal_request(self.who.key, self.who.principal, "POST", target, body)
        return _request(self.who.server_url, "POST", path, body, headers, self.timeout)

    def call(self, operation: str, **args: Any) -> Any:
        """Run an operation; its JSON result (``RequestRejected`` with the door's code if refused)."""
        body = json.dumps({k: v for k, v in args.items() if v is not None}).encode()
        status, _, data = self._signed(f"/v1/door/{operation}", body)
        return _answer(status, data).get("result")

    def fetch(self, operation: str, **args: Any) -> tuple[dict[str, str], bytes]:
        """An operation that answers with bytes (a subject export's tar stream)."""
        body = json.dumps({k: v for k, v in args.items() if v is not None}).encode()
        status, headers, data = self._signed(f"/v1/door/{operation}", body)
        if status >= 400:
            _answer(status, data)
        return headers, data

    def query(self, purpose: str, sql: str) -> dict[str, Any]:
        """``{"columns": [...], "rows": [[...], ...]}`` of one governed query."""
        status, _, data = self._signed("/v1/query", json.dumps({"purpose": purpose, "sql": sql}).encode())
        out = _answer(status, data)
        if not isinstance(out, dict):
            raise JobshadowError("the server sent a malformed answer")
        return out

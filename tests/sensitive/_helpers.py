"""Helpers shared by the sensitive-detector tests: build texts with secrets at known offsets."""

from __future__ import annotations

import base64
import json

from jobshadow.sensitive import scan


def found(text: str) -> list[tuple[str, str]]:
    """(kind, exact text) of every finding."""
    return [(f.kind, text[f.start : f.end]) for f in scan(text)]


def kinds(text: str) -> set[str]:
    return {f.kind for f in scan(text)}


def jwt(payload: dict[str, object] | None = None) -> str:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return ".".join(
        (b64({"alg": "HS256", "typ": "JWT"}), b64(payload or {"sub": "1234567890"}), "Sf1KxwRJ" * 5 + "abc")
    )


def luhn(prefix: str, length: int) -> str:
    """A Luhn-valid number: ``prefix`` padded with a fixed pattern, then the check digit."""
    body = (prefix + "3141592653589793238462")[: length - 1]
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"

"""Run every detector over a text, settle overlaps, and redact (shared: device and server).

``scan`` never raises for a ``str``: each detector runs under its own guard, so a bug in one
(logged by detector name and exception type only — never the text) costs that detector's
findings for this call, not the whole scan. Callers that must fail closed (the keystroke
guard on the device) pass ``strict=True`` and get ``DetectorFailed`` instead. Overlaps are
settled greedily: higher kind priority first, then the longer span, then the earlier start;
a candidate that touches an accepted finding is dropped.
"""

from __future__ import annotations

import bisect
import logging

from jobshadow.errors import DetectorFailed as DetectorFailed  # defined in the one tree
from jobshadow.sensitive._blocks import find_azure_connection_strings, find_private_keys, find_service_account
from jobshadow.sensitive._cli import find_cli_passwords, find_url_passwords
from jobshadow.sensitive._forms import find_form_logins
from jobshadow.sensitive._keyed import find_keyed
from jobshadow.sensitive._kinds import PRIORITY, Finding
from jobshadow.sensitive._numbers import find_numbers
from jobshadow.sensitive._pairs import find_login_pairs
from jobshadow.sensitive._pii import find_emails
from jobshadow.sensitive._prompted import find_passphrases, find_prompted
from jobshadow.sensitive._standalone import find_standalone
from jobshadow.sensitive._text import Detector, ScanText
from jobshadow.sensitive._tokens import find_azure_client_secret, find_prefixed

_log = logging.getLogger(__name__)

# Most specific first. Results do not depend on the order (overlaps are settled afterwards by
# priority), but speed does: the keyword and entropy detectors skip values that the vendor-prefix
# and block detectors before them already claimed (ScanText.covered).
DETECTORS: tuple[Detector, ...] = (
    find_private_keys,
    find_service_account,
    find_azure_connection_strings,
    find_prefixed,
    find_azure_client_secret,
    find_keyed,
    find_login_pairs,
    find_cli_passwords,
    find_url_passwords,
    find_prompted,
    find_passphrases,
    find_form_logins,
    find_emails,
    find_numbers,
    find_standalone,
)


def _candidates(text: str, strict: bool = False) -> list[Finding]:
    st = ScanText(text)
    found: list[Finding] = []
    for detector in DETECTORS:
        try:
            new = list(detector(st))
        except Exception as exc:  # one detector's bug must not stop the others
            _log.error("sensitive detector %s failed: %s", detector.__name__, type(exc).__name__)
            if strict:
                raise DetectorFailed(f"detector {detector.__name__} failed ({type(exc).__name__})") from None
            continue
        found.extend(new)
        st.claim(new)
    return found


def resolve(candidates: list[Finding]) -> list[Finding]:
    """Non-overlapping findings sorted by start; see the module docstring for who wins.

    Most candidates overlap nothing; they are kept as they come. Only clusters of mutually
    overlapping candidates go through the priority ranking.
    """
    ordered = sorted((c for c in candidates if c.end > c.start), key=lambda f: (f.start, -f.end))
    kept: list[Finding] = []
    i, n = 0, len(ordered)
    while i < n:
        j, reach = i + 1, ordered[i].end
        while j < n and ordered[j].start < reach:
            reach = max(reach, ordered[j].end)
            j += 1
        if j == i + 1:
            kept.append(ordered[i])
        else:
            kept.extend(_settle(ordered[i:j]))
        i = j
    return kept


def _settle(cluster: list[Finding]) -> list[Finding]:
    ranked = sorted(cluster, key=lambda f: (-PRIORITY[f.kind], f.start - f.end, f.start))
    starts: list[int] = []
    kept: list[Finding] = []
    for cand in ranked:
        i = bisect.bisect_right(starts, cand.start)
        if i > 0 and kept[i - 1].end > cand.start:
            continue
        if i < len(kept) and kept[i].start < cand.end:
            continue
        starts.insert(i, cand.start)
        kept.insert(i, cand)
    return kept


def scan(text: str, *, strict: bool = False) -> list[Finding]:
    """Every secret and piece of PII in ``text``: non-overlapping, sorted by start.

    With ``strict`` a failing detector raises ``DetectorFailed`` rather than being skipped.
    """
    if not text:
        return []
    return resolve(_candidates(text, strict))


def redact(text: str) -> tuple[str, list[Finding]]:
    """``text`` with each finding replaced by ``[REDACTED:<kind>]``, and the findings.

    The findings' offsets refer to the original ``text``.
    """
    findings = scan(text)
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(f"[REDACTED:{f.kind}]")
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts), findings

"""Screens for the screen-redaction benchmark (``bench/screen_redact.py``): content and styles.

Each screen is a template (a shell session, a chat, a mail, a ticket, an editor, a code review, a
spreadsheet, a cloud console) filled with freshly generated values:

* planted secrets and PII of every kind the detector knows, made by the generators of
  ``bench/redact_corpus.py`` (random, vendor-shaped, valid checksums), each shown in a context a
  real screen has (``AWS_SECRET_ACCESS_KEY=…``, ``Phone: …``);
* ordinary words (Faker's English word list) in ordinary sentences, for the utility figure;
* look-alikes that must stay legible (git SHAs, UUIDs, dates, versions, IPs, tickets, prices).

Templates are split like the detector corpus: ``dev`` templates were looked at while the engine
was tuned; ``heldout`` templates were written at the same time and run once at the end.
Rendering (fonts, sizes, themes, scale factors) is in ``bench/screen_render.py``.
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import redact_corpus
from faker import Faker

from jobshadow.sensitive import KINDS

# How each kind appears on a real screen: {v} is the value.
CONTEXTS: dict[str, tuple[str, ...]] = {
    "aws_access_key": ("AWS_ACCESS_KEY_ID={v}", "aws_access_key_id = {v}", "access key {v}"),
    "aws_secret_key": ("AWS_SECRET_ACCESS_KEY={v}", "aws_secret_access_key = {v}"),
    "gcp_api_key": ("GOOGLE_API_KEY={v}", "maps key: {v}", "?key={v}"),
    "gcp_service_account_key": ('"private_key_id": "{v}",',),
    "azure_connection_string": ("AZURE_STORAGE_CONNECTION_STRING={v}", "conn: {v}"),
    "azure_storage_key": ("AccountKey: {v}", "storage account key {v}"),
    "azure_client_secret": ("AZURE_CLIENT_SECRET={v}", "client secret: {v}"),
    "github_token": ("GITHUB_TOKEN={v}", "token {v}", "{v}"),
    "gitlab_token": ("GITLAB_TOKEN={v}", "{v}"),
    "slack_token": ("SLACK_BOT_TOKEN={v}", "{v}"),
    "slack_webhook": ("webhook: {v}", "{v}"),
    "atlassian_token": ("JIRA_API_TOKEN={v}", "{v}"),
    "anthropic_api_key": ("ANTHROPIC_API_KEY={v}", "{v}"),
    "openai_api_key": ("OPENAI_API_KEY={v}", "{v}"),
    "stripe_key": ("STRIPE_SECRET_KEY={v}", "{v}"),
    "jwt": ("Authorization: Bearer {v}", "{v}"),
    "private_key": ("{v}",),
    "generic_token": ("api_token: {v}", "X-Api-Key: {v}", "{v}"),
    "password": ("password: {v}", "DB_PASSWORD={v}", "the wifi password is {v}", "pwd: {v}"),
    "email": ("{v}", "contact {v}", "From: {v}"),
    "phone": ("call me at {v}", "Phone: {v}", "{v}"),
    "credit_card": ("card {v}", "Card number: {v}", "{v}"),
    "iban": ("IBAN: {v}", "wire it to {v}"),
    "us_ssn": ("SSN: {v}", "ssn {v}"),
}
VARIANTS: dict[str, tuple[str, ...]] = {
    "gcp_service_account_key": ("key_id",), "phone": ("intl", "national", "us"), "credit_card": ("", "plain"),
    "us_ssn": ("",), "generic_token": ("standalone", "keyed"), "github_token": ("", "", "pat"),
    "openai_api_key": ("", "legacy"), "private_key": ("",), "password": ("", "phrase"),
}  # fmt: skip
LOOKALIKES = ("git_sha", "short_sha", "uuid", "version", "date", "ip", "ticket", "price", "hostname", "url", "time")


@dataclass(frozen=True, slots=True)
class Planted:
    kind: str
    value: str


@dataclass
class Screen:
    name: str
    template: str
    split: str
    medium: str  # "xterm", "editor" or "html"
    content: str  # terminal text or an HTML document
    planted: list[Planted] = field(default_factory=list)
    ordinary: list[str] = field(default_factory=list)
    lookalikes: list[str] = field(default_factory=list)
    style: dict[str, str] = field(default_factory=dict)


class Filler:
    """Makes the values of one screen and records what was planted where."""

    def __init__(self, rng: random.Random, kinds: list[str], escape: bool) -> None:
        self.rng = rng
        self.kinds = kinds
        self.escape = escape
        self.faker = Faker("en_US")
        self.faker.seed_instance(rng.randrange(2**31))
        self.planted: list[Planted] = []
        self.ordinary: list[str] = []
        self.lookalikes: list[str] = []
        self._used: set[str] = set()

    def _e(self, s: str) -> str:
        return html.escape(s) if self.escape else s

    def secret(self, kind: str | None = None, *, bare: bool = False) -> str:
        """A planted value in context (the next kind of this screen's quota unless given)."""
        kind = kind or (self.kinds.pop() if self.kinds else self.rng.choice(KINDS))
        variant = self.rng.choice(VARIANTS.get(kind, ("",)))
        value = redact_corpus.VALUES[kind](self.rng, variant)
        if kind == "private_key":
            value = value.replace("\\n", "\n")
        self.planted.append(Planted(kind, value))
        shown = value if bare else self.rng.choice(CONTEXTS[kind]).format(v=value)
        return self._e(shown)

    def words(self, n: int) -> str:
        """An ordinary sentence of ``n`` words; its words of 4+ letters are counted for utility."""
        out: list[str] = []
        while len(out) < n:
            for w in self.faker.words(n * 2):
                if w.isalpha() and w.islower() and len(w) >= 4 and w not in self._used:
                    self._used.add(w)
                    self.ordinary.append(w)
                    out.append(w)
                elif len(w) <= 3 and w.isalpha() and self.rng.random() < 0.3:
                    out.append(w)  # short words make sentences read naturally; not counted
                if len(out) >= n:
                    break
        return self._e(" ".join(out).capitalize())

    def looks(self, name: str | None = None) -> str:
        name = name or self.rng.choice(LOOKALIKES)
        if name == "time":
            value = f"{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}"
        else:
            value = redact_corpus.NEGATIVES[name](self.rng)
        self.lookalikes.append(value)
        return self._e(value)

    def name(self) -> str:
        return self._e(self.faker.name())


Template = Callable[[Filler], str]


def make_screens(templates: dict[str, tuple[str, str, Template]], per_template: int, seed: int,
                 styles: Callable[[random.Random, str], dict[str, str]]) -> list[Screen]:
    """``per_template`` screens of each template, every kind planted about equally often."""
    rng = random.Random(seed)
    screens: list[Screen] = []
    for tname, (split, medium, template) in templates.items():
        for i in range(per_template):
            kinds = list(KINDS)
            rng.shuffle(kinds)
            if medium == "html":
                kinds = [k for k in kinds if k != "private_key"] + ["private_key"]  # <pre> blocks only
            quota = kinds[: rng.randint(8, 11)]
            filler = Filler(random.Random(rng.randrange(2**31)), quota, escape=medium == "html")
            content = template(filler)
            screens.append(Screen(f"{tname}-{i}", tname, split, medium, content, filler.planted, filler.ordinary,
                                  filler.lookalikes, styles(rng, medium)))
    return screens

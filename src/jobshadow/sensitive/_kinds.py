"""The finding record and the catalogue of kinds the detector reports (shared: device and server).

Every kind has a one-line definition (``KIND_DOCS``, rendered into the docs) and a priority used
to settle overlaps: when two candidates overlap, the higher priority wins, and on a tie the longer
span. Priorities rank how *specific* the evidence is: a vendor prefix or a checksum beats a
keyword, and a keyword beats entropy alone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected secret or piece of PII: ``text[start:end]`` is the sensitive value."""

    start: int
    end: int
    kind: str


KIND_DOCS: dict[str, str] = {
    "private_key": "PEM/OpenSSH/PGP private key block from `-----BEGIN … PRIVATE KEY…-----` through the "
    "matching END line (to the end of the text when END is missing).",
    "gcp_service_account_key": "Google service-account JSON: the `private_key_id` value and the `private_key` value.",
    "azure_connection_string": "Azure storage / Service Bus connection string carrying "
    "`AccountKey=`, `SharedAccessKey=` or `SharedAccessSignature=` (whole string).",
    "azure_storage_key": "Azure storage account key (88 base64 chars ending `==`) after any key or secret "
    "keyword, or a lone `AccountKey=` value.",
    "azure_client_secret": "Entra ID (Azure AD) client secret: the `xxx8Q~…` 40-char format, or a value "
    "after an Azure client-secret keyword.",
    "aws_access_key": "AWS access key id `AKIA`/`ASIA`/`ABIA`/`ACCA` + 16 chars (AWS's documented "
    "example key is reported too: it has the shape).",
    "aws_secret_key": "40-char base64 AWS secret access key, only after an AWS secret keyword or within "
    "300 chars after an access key id.",
    "gcp_api_key": "Google API key `AIza` + 35 chars.",
    "github_token": "GitHub token `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36+ chars, or `github_pat_…`.",
    "gitlab_token": "GitLab token `glpat-`, `gldt-`, `glrt-`, `glptt-`, `glft-`, `glsoat-`, `glimt-`, "
    "`glcbt-`, `gloas-`, `glagent-` or runner `GR1348941…`.",
    "slack_token": "Slack token `xoxb-`/`xoxp-`/`xoxa-`/`xoxr-`/`xoxs-`/`xoxe-` or app token `xapp-`.",
    "slack_webhook": "Slack incoming-webhook URL `https://hooks.slack.com/services|workflows|triggers/…`.",
    "atlassian_token": "Atlassian API token `ATATT3…`/`ATCTT3…`, Bitbucket `ATBB…`, or a token after a "
    "Jira/Atlassian/Confluence/Bitbucket keyword.",
    "anthropic_api_key": "Anthropic key `sk-ant-…`.",
    "openai_api_key": "OpenAI key `sk-proj-`/`sk-svcacct-`/`sk-admin-…`, or `sk-` + 32+ alphanumerics "
    "(other vendors' `sk-` keys of that shape land here too).",
    "stripe_key": "Stripe key `sk_live_`, `sk_test_`, `rk_live_`, `rk_test_`, `pk_live_`, or `whsec_`.",
    "jwt": "JSON Web Token: three base64url parts whose header decodes to JSON with `alg`/`typ`.",
    "generic_token": "High-entropy value after a token/secret/api-key keyword (or after a bare `key:` when it is "
    "unmistakably random and not hex) or in `Authorization: Bearer|Basic|token …` or after `Bearer `, or a "
    "standalone 32+ char token mixing upper, lower and digits that is not an identifier, hex, hash, path, "
    "URL part or wrapped base64 blob.",
    "password": "Value after a password key (`password=`, `pwd:`, `pw for staging: …`, `the wifi password is …`, "
    "`--password X`, `mysql -pX`, URL `user:pw@`, SQL `IDENTIFIED BY`); a 4-8 digit PIN after `PIN`/`passcode`; "
    "the second half of a login pair in prose (`login admin / …`, `creds bob:…`, `sign in as bob with …`); a "
    "line typed right after a command that prompts for one (sudo, su, ssh, passwd, mysql -p, psql, kinit, gpg, "
    "docker login, git over https, …) or after a question asking for one; a form value typed after a user-name, "
    "e-mail or `█` field and Tab or the click separator U+001F.",
    "email": "E-mail address `local@domain.tld` (not `git@host:path`, URL user-info, `ssh user@host` "
    "logins or `icon@2x.png` asset names).",
    "phone": "Phone number written the way phone numbers are, valid in a numbering plan or not: `+` and a "
    "country code, an area code in parentheses, NANP 3-3-4, a trunk `0`/`00` and groups, groups ending in "
    "pairs or 4-4; any 7-15 digits (bare or grouped) after a phone word; extensions included. Not dates, "
    "IP addresses, versions, ISBNs, or numbers named as orders, invoices, tax ids and the like.",
    "credit_card": "Payment card number, 12-19 digits (spaces/dashes allowed), Luhn-valid, with a known "
    "issuer prefix and length; 12 and 13 digits only after a card word (they are mostly barcodes).",
    "iban": "IBAN with a registered country code, that country's length and a valid mod-97 checksum.",
    "us_ssn": "US social security number AAA-GG-SSSS outside the never-issued ranges (000, 666, 9xx, "
    "group 00, serial 0000); nine bare or space-separated digits only after an SSN keyword.",
}

KINDS: tuple[str, ...] = tuple(KIND_DOCS)

# Higher wins an overlap. Blocks first (they contain everything else), then checksummed or
# vendor-prefixed shapes, then keyword-anchored values, then entropy-only guesses.
PRIORITY: dict[str, int] = {
    "private_key": 100,
    "gcp_service_account_key": 101,  # beats private_key: the PEM inside the JSON is the SA key
    "azure_connection_string": 90,
    "anthropic_api_key": 85,
    "aws_access_key": 80,
    "gcp_api_key": 80,
    "github_token": 80,
    "gitlab_token": 80,
    "slack_token": 80,
    "slack_webhook": 80,
    "atlassian_token": 80,
    "openai_api_key": 80,
    "stripe_key": 80,
    "azure_client_secret": 78,
    "jwt": 75,
    "aws_secret_key": 70,
    "azure_storage_key": 70,
    "credit_card": 60,
    "iban": 60,
    "us_ssn": 60,
    "email": 55,
    "phone": 50,
    "password": 40,
    "generic_token": 30,
}
assert set(PRIORITY) == set(KINDS)

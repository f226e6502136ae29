"""Vendor credentials, JWTs, key blocks and generic tokens: what is flagged and what is not."""

from __future__ import annotations

import pytest

from tests.sensitive._helpers import found, jwt, kinds

AWS_ID = "AKIAQ3EGJ7WXYZ2ABCDE"
AWS_SECRET = "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"
GH = "ghp_0123456789abcdefghijABCDEFGHIJ012345"
OPENAI = "sk-proj-" + "Ab3dEf9hIj" * 6 + "T3BlbkFJ" + "xY7wV5uT3s" * 6
OPENAI_LEGACY = "sk-Q3vT9xLm2RbW7kPz4NcYd8HsJf1Ga6UeT3BlbkFJ5rVq0MwXo"
ANTHROPIC = "sk-ant-api03-" + "aB3_dE-fG9hI" * 8 + "AA"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (f"aws_access_key_id = {AWS_ID}", "aws_access_key", AWS_ID),
        ("key AKIAIOSFODNN7EXAMPLE (AWS's documented example)", "aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
        (f"aws_secret_access_key = {AWS_SECRET}", "aws_secret_key", AWS_SECRET),
        (f"{AWS_ID},{AWS_SECRET}", "aws_secret_key", AWS_SECRET),
        # One secret in 400 has no digit, "+" or "/": random letters still count.
        (
            "aws_secret_access_key = pCwITknyUULkKfqXewGIytQlJXkJtMjENCivOfKe",
            "aws_secret_key",
            "pCwITknyUULkKfqXewGIytQlJXkJtMjENCivOfKe",
        ),
        (
            "maps?key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q&x=1",
            "gcp_api_key",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        ),
        (f"GITHUB_TOKEN={GH}", "github_token", GH),
        (
            "pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
            "github_token",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
        ),
        ("glpat-Ab3De5Gh7Jk9Mn1Pq3Rs", "gitlab_token", "glpat-Ab3De5Gh7Jk9Mn1Pq3Rs"),
        (
            "bot: xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "slack_token",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        ),
        (
            "post to https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEFGH/AbCdEfGhIjKlMnOpQrStUvWx now",
            "slack_webhook",
            "https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEFGH/AbCdEfGhIjKlMnOpQrStUvWx",
        ),
        (
            "ATATT3xFfGF0" + "Ab3_dE-fG9" * 17 + "=0A1B2C3D",
            "atlassian_token",
            "ATATT3xFfGF0" + "Ab3_dE-fG9" * 17 + "=0A1B2C3D",
        ),
        ("JIRA_API_TOKEN=Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3", "atlassian_token", "Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3"),
        (f"OPENAI_API_KEY={OPENAI}", "openai_api_key", OPENAI),
        (f"OPENAI_KEY={OPENAI_LEGACY}", "openai_api_key", OPENAI_LEGACY),
        (f"key: {ANTHROPIC}", "anthropic_api_key", ANTHROPIC),
        ("stripe sk_live_51H8abcDEF123ghiJKL456mno", "stripe_key", "sk_live_51H8abcDEF123ghiJKL456mno"),
        ("rk_test_51H8abcDEF123ghiJKL456mno", "stripe_key", "rk_test_51H8abcDEF123ghiJKL456mno"),
        (
            "client_secret=abc8Q~Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3Hj5Kl7Mn9P",
            "azure_client_secret",
            "abc8Q~Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3Hj5Kl7Mn9P",
        ),
        ("AZURE_CLIENT_SECRET=Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3", "azure_client_secret", "Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3"),
        (f"AZURE_STORAGE_KEY={'Ab3dEf9hIjKl' * 7}Ab==", "azure_storage_key", f"{'Ab3dEf9hIjKl' * 7}Ab=="),
        ("api_key: Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3", "generic_token", "Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3"),
        ("token=8f3a9c1e2b7d4a6f5e0c9b8a7d6e5f4a", "generic_token", "8f3a9c1e2b7d4a6f5e0c9b8a7d6e5f4a"),
        ("Authorization: Bearer Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3Hj5", "generic_token", "Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3Hj5"),
        (
            "use this one: Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3Hj5Kl7Mn9PaW2",
            "generic_token",
            "Xy7Qp2Lm9Rt4Vb6Nc8Zd1Fg3Hj5Kl7Mn9PaW2",
        ),
    ],
)
def test_token_is_found_with_exact_span(text: str, kind: str, value: str) -> None:
    assert (kind, value) in found(text)


def test_azure_connection_string_is_one_finding() -> None:
    conn = (
        f"DefaultEndpointsProtocol=https;AccountName=acct42;AccountKey={'Ab3dEf9hIjKl' * 7}Ab==;"
        "EndpointSuffix=core.windows.net"
    )
    assert found(f'AZURE_CONN="{conn}"') == [("azure_connection_string", conn)]
    sb = f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={'Ab3dEf9hIjK' * 4}=="
    assert found(sb) == [("azure_connection_string", sb)]


def test_jwt_needs_a_json_header() -> None:
    token = jwt()
    assert found(f"Authorization: Bearer {token}") == [("jwt", token)]
    assert kinds("eyJhbGciOiJIUzI1NiJ9x.eyJzdWIiOiIxIn0x.sig") == set()  # header is not base64 JSON


def test_private_key_block_with_and_without_end() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nZ3kS0m1ePq0c2lJ5"
    full = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
    assert found(f"key:\n{full}\nthanks") == [("private_key", full)]
    openssh = full.replace("PRIVATE KEY", "OPENSSH PRIVATE KEY")
    assert found(openssh) == [("private_key", openssh)]
    truncated = f"-----BEGIN EC PRIVATE KEY-----\n{body}\nmore text to the end"
    assert found(f"pasted: {truncated}") == [("private_key", truncated)]
    assert kinds("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----") == set()


def test_service_account_json() -> None:
    key_id = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f"
    pem = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN\\n-----END PRIVATE KEY-----\\n"
    doc = f'{{"type": "service_account", "private_key_id": "{key_id}", "private_key": "{pem}"}}'
    assert found(doc) == [("gcp_service_account_key", key_id), ("gcp_service_account_key", pem)]


@pytest.mark.parametrize(
    "text",
    [
        "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f Author: build bot",
        "git checkout 3f2a9c1 && git log --oneline -n 3",
        "request 550e8400-e29b-41d4-a716-446655440000 failed; id 550E8400-E29B-41D4-A716-446655440000",
        "image nginx@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        '"integrity": "sha512-' + "Ab3dEf9hIjKl" * 7 + 'Ab=="',
        "getUserAuthenticationTokenFromRequestHeaders2 handleOAuth2CallbackWithPKCEVerification",
        "MAX_TOKEN_REFRESH_RETRY_INTERVAL_SECONDS = 30; token_type = 'bearer'",
        "export API_TOKEN=${API_TOKEN}; api_key = os.environ['API_KEY']; secret: {{ secrets.TOKEN }}",
        "api_key=YOUR_API_KEY token=<your-token-here> OPENAI_API_KEY=sk-... password=********",
        "stripe sk_live_xxxxxxxxxxxxxxxxxx and ghp_ + 36 chars; AKIA is the prefix",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3 C:\\Users\\alice\\AppData\\Local\\Temp\\setup.log",
        "color: #1a2b3c; background: #fff; v2.0.0-rc.1 ^1.4.0 >=2.1,<3",
        "https://docs.google.com/document/d/1aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789/edit",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
        "the API key rotation runs nightly; the token expired; reset the secret in the vault",
        "tokens = tokenizer(text, max_tokens=4096)  # keyboard KeyError monkey",
        "aws_secret_access_key = AbstractSingletonProxyFactoryBeanManager",
    ],
)
def test_look_alikes_are_not_flagged(text: str) -> None:
    assert found(text) == []


def test_prefix_inside_a_longer_word_is_not_a_token() -> None:
    assert found("xghp_0123456789abcdefghijABCDEFGHIJ012345") == []
    assert found("BAKIAQ3EGJ7WXYZ2ABCDE") == []
    assert "openai_api_key" not in kinds("task-" + "Ab3dEf9hIjKl" * 4)


def test_a_bearer_token_needs_no_authorization_header() -> None:
    token = "AAGILYruQAuy5oFIWFn53g6GD7AiRLADC"  # random, though less so than a standalone needs
    assert found(f"DEBUG auth header: Bearer {token}") == [("generic_token", token)]
    assert found(f"DEBUG: {token} is the id") == []

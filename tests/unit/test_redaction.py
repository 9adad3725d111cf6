"""One redaction module: what it removes, and the log filter it puts on the HTTP libraries."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import anyio
import httpx
import pytest

import facility_common  # noqa: F401 - importing the package installs the log filter
from facility_common.redaction import (
    REDACTED,
    REDACTED_LOGGERS,
    RedactingFilter,
    header_secrets,
    install_log_redaction,
    redact,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXBhcnQ"
PRESIGNED = (
    "https://s3.example.org/bucket/job.out?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Signature=0123456789abcdef0123456789abcdef&X-Amz-Expires=3600"
)


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop", "Authorization: Bearer"),
        ('{"authorization": "raw-s3m-token-1"}', "raw-s3m-token-1", '"authorization"'),
        ("X-SLURM-USER-TOKEN: slurm-jwt-value", "slurm-jwt-value", "X-SLURM-USER-TOKEN"),
        (f"token {JWT} refused", JWT, "refused"),
        (PRESIGNED, "0123456789abcdef0123456789abcdef", "X-Amz-Expires=3600"),
        (PRESIGNED, "AKIAEXAMPLE", "X-Amz-Algorithm=AWS4-HMAC-SHA256"),
        ("https://acct.blob.core.windows.net/c/b?sv=2020&sig=AbCdEf%2B123", "AbCdEf%2B123", "sv=2020"),
        ("?Expires=1&Signature=cloudfront-sig-value&Key-Pair-Id=K", "cloudfront-sig-value", "Expires=1"),
        ("grant_type=refresh_token&refresh_token=rt-value-123", "rt-value-123", "grant_type=refresh_token"),
        ('{"client_secret": "cs-value-123", "scope": "x"}', "cs-value-123", '"scope": "x"'),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvAIBADANBg\n-----END PRIVATE KEY-----",
            "MIIEvAIBADANBg",
            "[private key]",
        ),
    ],
)
def test_what_looks_like_a_credential_goes(text: str, gone: str, kept: str) -> None:
    cleaned = redact(text)
    assert gone not in cleaned and kept in cleaned
    assert REDACTED in cleaned or "[private key]" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "token: the static token is empty",
        'WWW-Authenticate: Bearer realm="api", error="invalid_token"',
        "job 42 exited with code=2 after 3 s",
        "GET /compute/jobs/polaris?state=running answered 503",
        "Secret('**********')",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_known_secrets_go_as_they_are_and_url_encoded() -> None:
    secret = "p@ss word/+="
    cleaned = redact(f"echo {secret} and {quote(secret, safe='')}", secret)
    assert cleaned == f"echo {REDACTED} and {REDACTED}"


def test_header_secrets_include_the_token_after_its_scheme_and_basic_parts() -> None:
    basic = base64.b64encode(b"client:hunter2-secret").decode()
    found = header_secrets(
        {"Authorization": f"Basic {basic}", "X-SLURM-USER-TOKEN": "jwt-1", "Accept": "application/json"}
    )
    assert {"jwt-1", basic, "client:hunter2-secret", "hunter2-secret"} <= set(found)
    assert "application/json" not in found


def test_every_library_logger_and_its_children_are_filtered() -> None:
    install_log_redaction()
    children = ["httpcore.connection", "httpcore.http11", "globus_sdk.transport.requests"]
    for name in [*REDACTED_LOGGERS, *children]:
        logging.getLogger(name)
    install_log_redaction()
    for name in [*REDACTED_LOGGERS, *children]:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1, name


def test_a_late_library_logger_is_filtered_too(caplog: pytest.LogCaptureFixture) -> None:
    late = logging.getLogger("globus_sdk.transport.requests")
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    late.debug("request to %s", PRESIGNED)
    assert "0123456789abcdef" not in caplog.text and "X-Amz-Signature=" in caplog.text


def test_httpx_info_lines_carry_no_presigned_signature(caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs each request's URL at INFO, Airflow's task-log level."""
    caplog.set_level(logging.INFO, logger="httpx")
    logging.getLogger("httpx").disabled = False  # a logging setup elsewhere may have disabled it

    async def main() -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(200))
        async with httpx.AsyncClient(transport=transport) as client:
            await client.put(PRESIGNED, content=b"data")

    anyio.run(main)
    assert "s3.example.org" in caplog.text
    assert "0123456789abcdef" not in caplog.text and "AKIAEXAMPLE" not in caplog.text


def test_a_record_with_bad_arguments_is_passed_on_unchanged() -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "%d items", ("x",), None)
    assert RedactingFilter().filter(record) and record.args == ("x",)

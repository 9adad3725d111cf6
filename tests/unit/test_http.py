"""Pure helpers of the HTTP session: URL checks, Retry-After, error mapping of recorded bodies."""

from __future__ import annotations

import httpx
import pytest

from facility_common.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from facility_common.http import ApiSession, RetryPolicy, check_base_url, parse_retry_after

PROBLEM = {
    "type": "about:blank",
    "status": 404,
    "title": "Not Found",
    "detail": "Job job-12345 not found",
    "instance": "/api/v1/compute/status/x/job-12345",
}


def test_base_url_rules() -> None:
    assert check_base_url("https://api.alcf.anl.gov/api/v1/", facility="iri", sends_credentials=True) == (
        "https://api.alcf.anl.gov/api/v1"
    )
    assert check_base_url("http://127.0.0.1:1/iri/api/v1", facility="iri", sends_credentials=True)
    with pytest.raises(ConfigurationError, match="plain HTTP"):
        check_base_url("http://api.example.org/api/v1", facility="iri", sends_credentials=True)
    assert check_base_url(
        "http://api.example.org/api/v1", facility="iri", sends_credentials=True, allow_insecure_http=True
    )
    with pytest.raises(ConfigurationError, match="base_url"):
        check_base_url("ftp://x", facility="iri", sends_credentials=False)
    with pytest.raises(ConfigurationError, match="credentials in the URL"):
        check_base_url("https://u:p@x.org", facility="iri", sends_credentials=False)


def test_retry_after_forms() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(backoff=1, max_backoff=4, jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 4, 4]
    assert policy.delay(1, retry_after=500) == policy.max_retry_after


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitedError),
        (500, ServerError),
        (422, APIError),
    ],
)
def test_error_mapping_uses_problem_detail(status: int, error: type[Exception]) -> None:
    session = ApiSession(facility="iri", base_url="https://iri.example.org/api/v1")
    request = httpx.Request("GET", "https://iri.example.org/api/v1/compute/status/x/job-12345")
    response = httpx.Response(status, json={**PROBLEM, "status": status}, request=request)
    exc = session._error_for("GET", "/compute/status/x/job-12345", response, "polaris")
    assert isinstance(exc, error)
    assert "Job job-12345 not found" in str(exc)
    assert exc.status_code == status and exc.resource == "polaris" and exc.facility == "iri"


def test_html_error_page_is_excerpted() -> None:
    session = ApiSession(facility="iri", base_url="https://iri.example.org/api/v1")
    request = httpx.Request("GET", "https://iri.example.org/api/v1/x")
    response = httpx.Response(
        502, text="<html><body>" + "Bad gateway " * 100 + "</body></html>", request=request
    )
    exc = session._error_for("GET", "/x", response, None)
    assert isinstance(exc, ServerError)
    assert len(str(exc)) < 500

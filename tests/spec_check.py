"""Shared pieces of the spec checks: load an API's OpenAPI document, recognise the one
openapi-core quirk that is not a finding about the exchange, and validate recorded IRI
exchanges against the IRI documents."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPECS = Path(__file__).resolve().parents[1] / "specs"

#: The IRI document each API version is checked against: v2 follows the newest revision (HAL
#: ``_links``, ``x-iri-relation``), which changed no path, method, body or status code.
IRI_SPEC_FILES = {
    "v1": SPECS / "alcf-iri" / "iri-openapi-v1.yaml",
    "v2": SPECS / "alcf-iri" / "iri-openapi-v2-9ef85ea.yaml",
}
IRI_SPEC_HOST = "https://api.iri.nersc.gov"


@functools.cache
def load_openapi(path: Path) -> OpenAPI:
    """The document at ``path`` (YAML or JSON), ready to validate exchanges.

    Loaded without the document's own schema check: several published documents fail it (IRI v2
    has a default below its minimum, slurmrestd's generated ones have schema quirks), while the
    exchanges are still validated fully against them.
    """
    text = path.read_text()
    document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


def is_binary_part_quirk(exchange: Any, error: Exception) -> bool:
    """openapi-core decodes a multipart file part to bytes, then its OpenAPI 3.1 validator rejects
    bytes for the spec's ``type: string, format: binary``. For those requests check the shape
    directly instead: a multipart body with a ``file`` part."""
    if not (exchange.request_content_type or "").startswith("multipart/form-data"):
        return False
    if "is not of type 'string'" not in str(getattr(error, "__cause__", None) or error):
        return False
    return b'name="file"' in exchange.request_body


def iri_openapi(version: str) -> OpenAPI:
    """The IRI document of ``version`` (``v1``/``v2``)."""
    return load_openapi(IRI_SPEC_FILES[version])


def iri_exchange_errors(exchange: Any) -> list[str]:
    """Everything in a recorded ``/iri/api/vN`` exchange that its IRI document does not allow."""
    path: str = exchange.path
    version = "v2" if path.startswith("/iri/api/v2/") else "v1"
    spec_path = path.removeprefix("/iri")
    args: dict[str, Any] = {}
    for key, value in parse_qsl(exchange.query, keep_blank_values=True):
        args[key] = value
    request = MockRequest(
        IRI_SPEC_HOST,
        exchange.method.lower(),
        spec_path,
        args=args,
        headers=exchange.request_headers,
        data=exchange.request_body or None,
        content_type=exchange.request_content_type or "application/json",
    )
    response = MockResponse(
        exchange.response_body,
        status_code=exchange.status,
        headers=exchange.response_headers,
        # Errors are RFC 9457 problem+json on the wire; the spec files them as application/json
        # with the Problem schema, which is the same body.
        content_type=(exchange.response_content_type or "application/json")
        .split(";")[0]
        .replace("application/problem+json", "application/json"),
    )
    errors = []
    where = f"{exchange.method} {path}?{exchange.query} -> {exchange.status}"
    openapi = iri_openapi(version)
    for error in openapi.iter_request_errors(request):
        if is_binary_part_quirk(exchange, error):
            continue
        errors.append(f"request {where}: {error}")
    for error in openapi.iter_response_errors(request, response):
        detail = getattr(error, "__cause__", None) or error
        errors.append(f"response {where}: {detail}")
    return errors

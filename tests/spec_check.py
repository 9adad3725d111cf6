"""Shared pieces of the spec checks: load an API's OpenAPI document, and recognise the one
openapi-core quirk that is not a finding about the exchange."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from openapi_core import Config, OpenAPI


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

"""Redaction: the one place that decides what of a text may be shown.

Texts that came from outside (an error body that echoes the request, a URL with a presigned
signature, a library's debug line) may hold credentials. :func:`redact` removes

* the secrets the caller knows (a token, a client secret, the values of the credential headers of
  the request that was answered, see :func:`header_secrets`), also in their URL-encoded form;
* what looks like a credential whatever it is: the value after an ``Authorization`` scheme word
  (``Bearer``, ``Basic``...), JSON Web Tokens, PEM private keys, signatures and tokens in query
  strings and forms (``X-Amz-Signature``, ``X-Amz-Credential``, ``Signature``, ``sig``,
  ``access_token``, ``client_secret``...), passwords in URLs (``redis://user:password@host``)
  and JSON or header values of credential-named keys.

:class:`RedactingFilter` applies the same rules to log records; :func:`install_log_redaction`
puts it on the loggers of the HTTP and auth libraries the package drives (``httpx``, ``httpcore``,
``urllib3``, ``authlib``, ``globus_sdk``) and on the package's own, so a debug or
info line (httpx logs every URL at INFO, which is Airflow's task-log level) never carries a
presigned URL's signature or a token. This module imports nothing of the package: the error
tree, the HTTP session, the token sources and the logging set-up all use it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Protocol
from urllib.parse import quote

__all__ = [
    "REDACTED",
    "REDACTED_LOGGERS",
    "RedactingFilter",
    "header_secrets",
    "install_log_redaction",
    "is_credential_header",
    "redact",
]

REDACTED = "**********"
#: Loggers (with their descendants) whose records are redacted once the package is imported.
REDACTED_LOGGERS = ("httpx", "httpcore", "urllib3", "authlib", "globus_sdk", "facility_common")
#: Known secrets shorter than this are not searched for: they would blank out ordinary words.
MIN_SECRET_LENGTH = 4


class _HasSecretValue(Protocol):
    def get_secret_value(self) -> str: ...


Known = str | bytes | _HasSecretValue | None

_CREDENTIAL_HEADER = re.compile(
    r"authorization|token|secret|password|passwd|api[-_]?key|cookie|signature|credential|session",
    re.IGNORECASE,
)
_SCHEME_VALUE = re.compile(
    r"\b(Bearer|Basic|Token|Digest|Negotiate|JWT|DPoP)(\s+)(?!\*{10})([A-Za-z0-9._~+/\-]{8,}=*)",
    re.IGNORECASE,
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL)
_QUERY_NAMES = (
    r"x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|"
    r"signature|sig|access_token|refresh_token|id_token|client_secret|client_assertion|"
    r"password|passwd|api_key|apikey|token|secret|secret_key"
)
#: ``name=value`` in a query string or a form body.
_QUERY_VALUE = re.compile(rf"(?i)((?:^|[?&;\s\"'(\[,])(?:{_QUERY_NAMES})=)(?!\*{{10}})([^&\s\"'#<>,;)\]]+)")
_KEY_NAMES = (
    r"access_token|refresh_token|id_token|client_secret|client_assertion|password|passwd|secret_key|"
    r"secret|token|api_key|private_key|authorization|proxy-authorization|x-auth-token|"
    r"x-slurm-user-token|x-api-key|cookie|set-cookie"
)
#: ``"name": "value"`` in JSON or a Python mapping's repr.
_QUOTED_VALUE = re.compile(rf"(?i)([\"'](?:{_KEY_NAMES})[\"']\s*:\s*b?[\"'])(?!\*{{10}})([^\"']+)")
#: ``scheme://user:password@host``: the password in a URL's user information (a Redis or AMQP
#: connection URL).
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s/:@\"']*:)(?!\*{10}@)([^\s/@\"']+)(@)")
#: ``Header: value`` of a credential header echoed as text.
_HEADER_VALUE = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-auth-token|x-slurm-user-token|x-api-key|set-cookie|cookie)"
    r"(\s*[:=]\s*)(?!\*{10})(?!(?:bearer|basic|token|digest|negotiate|jwt|dpop)\s)([^\s\"',;]+)"
)


def _texts(known: Known | Iterable[Known]) -> list[str]:
    if known is None:
        return []
    if isinstance(known, bytes):
        return [known.decode("utf-8", "replace")]
    if isinstance(known, str):
        return [known]
    getter = getattr(known, "get_secret_value", None)
    if callable(getter):
        value = getter()
        return [value] if isinstance(value, str) else []
    if isinstance(known, Iterable):
        return [text for item in known for text in _texts(item)]
    return []


def redact(text: str, *known: Known | Iterable[Known]) -> str:
    """``text`` without the ``known`` secrets and without anything that looks like a credential."""
    if not text:
        return text
    secrets = {s for item in known for s in _texts(item) if len(s) >= MIN_SECRET_LENGTH}
    for secret in sorted(secrets, key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            if form in text:
                text = text.replace(form, REDACTED)
    text = _PEM.sub("[private key]", text)
    text = _SCHEME_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    text = _QUERY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUOTED_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    return _HEADER_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def is_credential_header(name: str) -> bool:
    """Whether a header of this name carries a credential (``Authorization``, ``X-...-Token``...)."""
    return bool(_CREDENTIAL_HEADER.search(name))


def header_secrets(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[str]:
    """The secrets in the credential headers of a request: each value, the part after its scheme
    word and, for HTTP Basic, the decoded ``user:password`` and its password."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found: list[str] = []
    for name, value in pairs:
        if not is_credential_header(name) or not value:
            continue
        found.append(value)
        scheme, _, rest = value.partition(" ")
        rest = rest.strip()
        if not rest:
            continue
        found.append(rest)
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(rest, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
            found.append(pair)
            found.append(pair.partition(":")[2])
    return found


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message through :func:`redact` (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = RedactingFilter()


def install_log_redaction(names: Iterable[str] = REDACTED_LOGGERS) -> None:
    """Put the redacting filter on each named logger and on every descendant that exists now.

    A logger's filters do not apply to its children's records, so the descendants get it too;
    call this again after importing a library that creates loggers (the package does so where it
    imports globus-sdk and authlib). Idempotent.
    """
    wanted = tuple(names)
    existing = [
        name
        for name, item in logging.root.manager.loggerDict.items()
        if isinstance(item, logging.Logger) and name.startswith(tuple(f"{n}." for n in wanted))
    ]
    for name in (*wanted, *existing):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(_FILTER)

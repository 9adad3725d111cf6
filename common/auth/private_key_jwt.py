"""The client-credentials grant with ``private_key_jwt`` client authentication (RFC 7523).

NERSC's Superfacility API clients authenticate this way: Iris hands out a client id and a private
key (PEM or JWK), and each token request carries a short-lived JWT assertion signed with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from ..errors import AuthenticationError, ConfigurationError, FacilityError
from ..redaction import install_log_redaction
from ..tls import VerifySetting
from .files import check_secret_file
from .oidc import OIDCClientCredentials, _Answer
from .secret import Secret
from .source import DEFAULT_MAX_REFRESH_LEAD, DEFAULT_REFRESH_FRACTION, DEFAULT_TOKEN_TIMEOUT, Fetched

__all__ = ["ASSERTION_LIFETIME", "PrivateKeyJWTClientCredentials"]

#: Lifetime of a signed client assertion; the token endpoint only has to accept it once.
ASSERTION_LIFETIME = 300
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class _LoadedKey:
    """A private key ready to sign, its JWS algorithm and the client id its file named, if any."""

    key: Any
    algorithm: str
    client_id: str | None


def _load_private_key(text: str, facility: str | None, where: str) -> _LoadedKey:
    """Parse a PEM or JWK private key (as Iris hands them out) without ever echoing it.

    Accepted: a PEM block, optionally after a first line holding the client id (the layout
    ``sfapi_client`` reads); a JWK object; or ``{"client_id": ..., "secret": <JWK or PEM>}``.
    """
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, RSAKey, import_key

    client_id: str | None = None
    material: Any = None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise ConfigurationError(f"{where}: not valid JSON (expected a JWK)", facility=facility) from None
        if isinstance(data, dict) and "secret" in data:
            found = data.get("client_id")
            client_id = found.strip() if isinstance(found, str) and found.strip() else None
            material = data["secret"]
            if isinstance(material, str) and material.strip().startswith("{"):
                with contextlib.suppress(ValueError):
                    material = json.loads(material)
        else:
            material = data
    else:
        match = _PEM_BLOCK.search(text)
        if match is None:
            raise ConfigurationError(
                f"{where}: no PEM private key (-----BEGIN ... PRIVATE KEY-----) or JWK found",
                facility=facility,
            )
        first = text[: match.start()].strip().splitlines()
        if first and first[0].strip() and " " not in first[0].strip():
            client_id = first[0].strip()
        material = match.group(0)
    if isinstance(material, str):
        pem = _PEM_BLOCK.search(material)
        material = pem.group(0) if pem else material
    try:
        if isinstance(material, dict):
            key: Any = import_key(material, "EC" if material.get("kty") == "EC" else "RSA")
        else:
            try:
                key = import_key(material, "RSA")
            except (JoseError, ValueError, TypeError):
                key = import_key(material, "EC")
    except (JoseError, ValueError, TypeError, KeyError):
        raise ConfigurationError(f"{where}: the private key cannot be parsed", facility=facility) from None
    if not getattr(key, "is_private", False):
        raise ConfigurationError(f"{where}: holds a public key; a private key is needed", facility=facility)
    if isinstance(key, RSAKey):
        algorithm = "RS256"
    elif isinstance(key, ECKey):
        algorithm = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(str(key.curve_name), "ES256")
    else:
        raise ConfigurationError(f"{where}: only RSA and EC keys are supported", facility=facility)
    return _LoadedKey(key, algorithm, client_id)


class PrivateKeyJWTClientCredentials(OIDCClientCredentials):
    """The client-credentials grant with ``private_key_jwt`` client authentication (RFC 7523).

    This is how NERSC's Superfacility API clients authenticate: Iris gives the client an id and a
    private key (PEM or JWK); each token request carries a short-lived JWT (``iss`` = ``sub`` =
    client id, ``aud`` = token URL) signed with that key, built with ``authlib``. Tokens live about
    ten minutes and come without a refresh token, so the grant is simply run again ahead of expiry.

    The key comes from ``key_path`` (a file that must be private: any group or other permission
    bit raises :class:`ConfigurationError` at construction, before any request, unless
    ``allow_readable_secret_files``) or from
    ``private_key`` (the key text itself, e.g. from a secrets manager). The key is parsed at
    construction too, so a wrong or public key is a configuration error, not a failed job call.
    A client id may also come from the key file's first line (the layout ``sfapi_client`` reads).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str | None = None,
        *,
        key_path: str | os.PathLike[str] | None = None,
        private_key: str | Secret | None = None,
        scope: str | Sequence[str] | None = None,
        verify: VerifySetting = True,
        scheme: str = "Bearer",
        facility: str | None = None,
        timeout: float = DEFAULT_TOKEN_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_insecure_http: bool = False,
        allow_readable_secret_files: bool = False,
        refresh_fraction: float = DEFAULT_REFRESH_FRACTION,
        max_refresh_lead: float = DEFAULT_MAX_REFRESH_LEAD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if key_path is None and private_key is None:
            raise ConfigurationError(
                "key_path: a private key is required: give key_path or private_key", facility=facility
            )
        if key_path is not None and private_key is not None:
            raise ConfigurationError(
                "private_key: give either key_path or private_key, not both", facility=facility
            )
        self.key_path = pathlib.Path(key_path).expanduser() if key_path is not None else None
        if self.key_path is not None:
            check_secret_file(
                self.key_path, field="key_path", facility=facility, allow_readable=allow_readable_secret_files
            )
            try:
                text = self.key_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(
                    f"key_path: cannot read {self.key_path}: {type(exc).__name__}", facility=facility
                ) from None
            loaded = _load_private_key(text, facility, "key_path")
        else:
            assert private_key is not None
            secret = private_key if isinstance(private_key, Secret) else Secret(private_key)
            loaded = _load_private_key(secret.get_secret_value(), facility, "private_key")
        client_id = client_id.strip() if client_id else loaded.client_id
        if not client_id:
            raise ConfigurationError(
                "client_id: required (not given, and the key file does not start with one)",
                facility=facility,
            )
        super().__init__(
            token_url,
            client_id,
            Secret(""),
            scope=scope,
            verify=verify,
            scheme=scheme,
            facility=facility,
            timeout=timeout,
            transport=transport,
            allow_insecure_http=allow_insecure_http,
            refresh_fraction=refresh_fraction,
            max_refresh_lead=max_refresh_lead,
            clock=clock,
        )
        self._key = loaded.key
        self.algorithm = loaded.algorithm

    def _assertion(self) -> str:
        """A fresh signed client assertion (unique ``jti``, five minutes of validity)."""
        from authlib.oauth2.rfc7523 import private_key_jwt_sign

        install_log_redaction()  # authlib's loggers exist now

        now = int(time.time())
        assertion = private_key_jwt_sign(
            self._key,
            self.client_id,
            self.token_url,
            alg=self.algorithm,
            claims={"iat": now, "exp": now + ASSERTION_LIFETIME, "jti": uuid.uuid4().hex},
        )
        return assertion.decode("ascii") if isinstance(assertion, bytes) else str(assertion)

    def _authenticate(self, form: dict[str, str], headers: dict[str, str]) -> None:
        """The client authenticates with a fresh signed assertion instead of a secret."""
        form["client_id"] = self.client_id
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = self._assertion()

    def _parse(self, answer: _Answer | FacilityError) -> Fetched | FacilityError:
        outcome = super()._parse(answer)
        if isinstance(outcome, AuthenticationError) and outcome.status_code in (400, 401):
            outcome.args = (
                outcome.args[0] + " (check the client id and its key, and that the client has not "
                "expired: red clients last 48 hours; create a new one in Iris)",
            )
            outcome.message = outcome.args[0]
        return outcome

    def _describe(self) -> str:
        where = f", key_path={str(self.key_path)!r}" if self.key_path is not None else ""
        return f"token_url={self.token_url!r}, client_id={self.client_id!r}{where}"

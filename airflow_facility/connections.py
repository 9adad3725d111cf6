"""The provider's connection types and their forms, derived from the backend descriptors.

Every backend whose descriptor names an Airflow connection type and a hook class gets one
(built-in backends and those installed through entry points alike). Its form is declarative
(``conn-fields`` and ``ui-field-behaviour``) and holds only what a connection of that API can use:

* ``auth_type``: the API's own auth types (the descriptor's first preselected), with their help;
* the extras those auth types read beyond Login and Password (``token_url``, ``key_path``,
  ``secret_key``...), secrets as password fields;
* the API's options, from its options class's ``form_fields()``, typed for the form;
* ``job_url_template``, the job's page at the facility;
* ``globus_collections``, the facility's storages and their Globus collections, for transfers.

The Globus connection (``facility_globus``, :func:`globus_connection_type_info`) carries the
Globus route's credentials; its form is built from the same auth-type table.

Login and Password are relabelled with what the auth types put there, and Login is hidden where
none uses it. :func:`facility_common.settings_from_connection` reads what these forms write.
"""

from __future__ import annotations

import logging
import types
import typing
from typing import Any

from facility_common import BackendOptions, ConfigurationError
from facility_common.connection_settings import AUTH_TYPES, COLLECTIONS_EXTRA, AuthTypeInfo, unnamed_auth_type
from facility_common.registry import BackendDescriptor, available_backends, get_descriptor
from facility_common.transfers import GLOBUS_TRANSFER_URL
from facility_common.transfers.settings import GLOBUS_AUTH_TYPES, GLOBUS_CONN_TYPE

__all__ = [
    "connection_type_info",
    "facility_descriptors",
    "form_behaviour",
    "form_fields",
    "globus_connection_type_info",
]

logger = logging.getLogger(__name__)

#: What each auth key means, for the form fields of the extras that carry them.
AUTH_KEY_HELP = {
    "token_url": "The OIDC token endpoint.",
    "scope": "Scopes to request, space-separated.",
    "audience": "The audience to request the token for.",
    "auth_method": "How the client proves itself at the token endpoint: client_secret_basic or "
    "client_secret_post.",
    "scheme": "The scheme the token is sent with (default Bearer).",
    "token_file": "Path of the file holding the token, kept fresh by another tool.",
    "check_interval": "Seconds between looks at the token file for a new token.",
    "key_path": "Path of the PEM private key file (mode 0600), instead of the key in Password.",
    "storage_path": "A Globus token storage file, such as the one ALCF's token script writes "
    "('default' for its usual place).",
    "client_secret": "The secret of a confidential Globus client.",
    "namespace": "The namespace of the tokens in the Globus token storage.",
    "resource_server": "The API's Globus resource server.",
    "auth_base_url": "The Globus Auth service's URL (test deployments).",
    "environment": "The Globus environment (default: production).",
    "secret_key": "The server's shared secret.",
}
_WORDS = {"url": "URL", "api": "API", "ca": "CA", "s3": "S3", "http": "HTTP", "id": "id", "oidc": "OIDC"}


def facility_descriptors() -> list[BackendDescriptor]:
    """The backends that have an Airflow connection type, sorted by name.

    An installed backend whose descriptor cannot be loaded is left out with a warning, so one
    broken plug-in does not take the provider's other connection types down with it.
    """
    found = []
    for name in available_backends():
        try:
            descriptor = get_descriptor(name)
        except ConfigurationError as exc:
            logger.warning("facility backend %r left out of the Airflow provider: %s", name, exc)
            continue
        if descriptor.conn_type and descriptor.hook_class:
            found.append(descriptor)
    return found


def _label(name: str) -> str:
    words = [_WORDS.get(word, word) for word in name.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:]


def _nullable(*kinds: str, **schema: Any) -> dict[str, Any]:
    return {"type": [*kinds, "null"], **schema}


def _field(label: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": schema}


def _auth_types(descriptor: BackendDescriptor) -> list[AuthTypeInfo]:
    return [AUTH_TYPES[name] for name in descriptor.auth_types if name in AUTH_TYPES]


def _auth_extras(info: AuthTypeInfo) -> list[str]:
    """The extras auth type ``info`` reads beyond Login and Password (the API's base URL, which
    handshake types take from the host, is not one)."""
    aliased = {key for _, key in info.extra_aliases}
    hidden = {info.login_key, info.password_key, *aliased}
    if info.needs_base_url:
        hidden.add("base_url")
    return [extra for extra, _ in info.extra_aliases] + sorted(info.keys - hidden)


def _option_schema(annotation: Any, default: Any) -> tuple[dict[str, Any], str]:
    """The JSON schema of an option of type ``annotation``, and how to write it as text."""
    choices = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        annotation = bool if bool in choices else choices[0] if len(choices) == 1 else str
    if annotation is bool:
        return _nullable("boolean", default=default), ""
    if annotation is int:
        return _nullable("integer"), ""
    if annotation is float:
        return _nullable("number"), ""
    if typing.get_origin(annotation) is typing.Literal:
        return {"type": ["string", "null"], "enum": [*typing.get_args(annotation), None]}, ""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return _nullable("string"), " Comma-separated."
    if annotation is not str and origin is not None:
        return _nullable("string"), " A JSON object."
    return _nullable("string"), ""


def _default_text(default: Any) -> str:
    if default is None or isinstance(default, bool):
        return ""
    if isinstance(default, tuple):
        default = ",".join(f"{item:g}" if isinstance(item, float) else str(item) for item in default)
    elif isinstance(default, float):
        default = f"{default:g}"
    return f" Default: {default}."


def form_fields(descriptor: BackendDescriptor) -> dict[str, Any]:
    """The extra fields of the connection form of ``descriptor``'s API."""
    infos = _auth_types(descriptor)
    try:
        options = descriptor.options_class()
    except ConfigurationError as exc:  # its extras are not installed: the shared options only
        logger.warning("no option fields for %s connections: %s", descriptor.label, exc)
        options = BackendOptions
    hints = typing.get_type_hints(options)
    option_fields = options.form_fields()
    option_names = {name for name, _, _ in option_fields}
    kinds = " ".join(f"{info.name}: {info.help}" for info in infos)
    fields: dict[str, Any] = {
        "auth_type": _field(
            "Auth type",
            f"How the connection authenticates. {kinds} A connection that names no auth type uses "
            f"{unnamed_auth_type(descriptor)}.",
            {"type": "string", "enum": list(descriptor.auth_types), "default": descriptor.default_auth_type},
        )
    }
    for info in infos:
        for extra in _auth_extras(info):
            if extra in option_names:
                continue  # an option too (verify...): the option's field below serves both
            users = [i.name for i in infos if extra in _auth_extras(i)]
            secret = any(dict(i.extra_aliases).get(extra, extra) in i.secrets for i in infos)
            schema = _nullable("string", format="password") if secret else _nullable("string")
            help_text = AUTH_KEY_HELP.get(extra, f"The {extra} of the auth type.")
            fields.setdefault(
                extra, _field(_label(extra), f"{help_text} Auth types: {', '.join(users)}.", schema)
            )
    for name, default, help_text in option_fields:
        schema, how = _option_schema(hints[name], default)
        fields[name] = _field(_label(name), f"{help_text}{how}{_default_text(default)}", schema)
    fields["job_url_template"] = _field(
        "Job web page",
        "URL of a job's page at the facility, with {job_id} and {resource} placeholders; "
        "leave empty where the facility has none.",
        _nullable("string"),
    )
    fields[COLLECTIONS_EXTRA] = _field(
        "Globus collections",
        "The facility's storages and their Globus collections, for transfers: a JSON object of "
        'storage name to collection id, or to {"id": ..., "root": <the collection\'s / on the '
        "facility's file system>}. Not needed where the API reports them (IRI v2).",
        _nullable("string", format="json"),
    )
    return fields


def globus_connection_type_info() -> dict[str, Any]:
    """The ``connection-types`` entry of the Globus connection (the Globus route's credentials;
    :mod:`facility_common.transfers.settings` reads it)."""
    infos = [AUTH_TYPES[name] for name in GLOBUS_AUTH_TYPES]
    kinds = " ".join(f"{info.name}: {info.help}" for info in infos)
    fields: dict[str, Any] = {
        "auth_type": _field(
            "Auth type",
            f"How the Transfer token is had. {kinds} A confidential client without scopes asks for "
            "the collections' data_access consents itself.",
            {"type": "string", "enum": list(GLOBUS_AUTH_TYPES), "default": GLOBUS_AUTH_TYPES[0]},
        )
    }
    for name in ("storage_path", "namespace", "auth_base_url", "environment", "scopes"):
        help_text = AUTH_KEY_HELP.get(name, "Scopes to request, space-separated (default: managed).")
        fields[name] = _field(_label(name), help_text, _nullable("string"))
    fields["verify"] = _field(
        "Verify",
        "Verify the Transfer API's TLS certificate: true, false, or a CA bundle's path.",
        _nullable("string"),
    )
    fields["ids_per_request"] = _field(
        "Ids per request",
        "Transfer ids one task_list status request asks about. Default: 1000.",
        _nullable("integer"),
    )
    return {
        "connection-type": GLOBUS_CONN_TYPE,
        "hook-class-name": "airflow_facility.hooks.transfer.GlobusTransferHook",
        "hook-name": "Globus Transfer",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {
                "host": "Transfer API URL",
                "login": "Client id",
                "password": "Client secret or token",
            },
            "placeholders": {
                "host": GLOBUS_TRANSFER_URL,
                "login": "client id (globus_confidential, globus_refresh_token)",
                "password": "client secret (globus_confidential), refresh token, or a Transfer token (token)",
            },
        },
        "conn-fields": fields,
    }


def _who(infos: list[AuthTypeInfo], key_of: str) -> tuple[str, str]:
    """The label of what auth types put in Login (``key_of="login_key"``) or Password, and
    which types use it."""
    keys: list[str] = []
    users: list[str] = []
    for info in infos:
        key = getattr(info, key_of)
        if key:
            users.append(info.name)
            if key not in keys:
                keys.append(key)
    labels = [_label(key).lower() for key in keys]
    text = " or ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels)
    return text[:1].upper() + text[1:], ", ".join(users)


def form_behaviour(descriptor: BackendDescriptor) -> dict[str, Any]:
    """The ``ui-field-behaviour`` of ``descriptor``'s API: which standard fields show, and
    their labels and placeholders."""
    infos = _auth_types(descriptor)
    login, login_users = _who(infos, "login_key")
    password, password_users = _who(infos, "password_key")
    hidden = ["schema", "port"] + ([] if login else ["login"])
    relabeling = {"host": "Base URL", "password": password}
    placeholders = {"host": descriptor.url_placeholder, "password": f"{password} ({password_users})"}
    if login:
        relabeling["login"] = login
        placeholders["login"] = f"{login} ({login_users})"
    return {"hidden-fields": hidden, "relabeling": relabeling, "placeholders": placeholders}


def connection_type_info(descriptor: BackendDescriptor) -> dict[str, Any]:
    """The ``connection-types`` entry of one API for the provider info."""
    return {
        "connection-type": descriptor.conn_type,
        "hook-class-name": f"airflow_facility.hooks.facility.{descriptor.hook_class}",
        "hook-name": descriptor.label,
        "ui-field-behaviour": form_behaviour(descriptor),
        "conn-fields": form_fields(descriptor),
    }

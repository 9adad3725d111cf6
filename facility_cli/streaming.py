"""``facility streaming backends|list|show|create|extend|delete``: OLCF S3M's RabbitMQ and Redis
clusters.

The commands call the S3M backend's streaming methods through the client's ``call_backend``; on
a connection to another API they stop with that API's ``UnsupportedOperation``, which names S3M.
A cluster's password and connection URL are printed only with ``--show-secrets`` (``show`` and
``create``), and never with the rest of ``--json`` otherwise.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import ConnOption, JsonOption, wants_json
from .output import fmt_duration, fmt_time, note, out, print_json, table

if TYPE_CHECKING:
    from facility_common import StreamingCluster

    from .session import Session

__all__ = ["streaming_app"]

streaming_app = typer.Typer(
    help="OLCF S3M's RabbitMQ and Redis clusters (7-day lifetime): backends, list, show, create, "
    "extend, delete.",
    no_args_is_help=True,
)

EngineArg = Annotated[str, typer.Argument(help="redis or rabbitmq", metavar="ENGINE")]
NameArg = Annotated[str, typer.Argument(help="the cluster's name", metavar="NAME")]
SecretsOption = Annotated[
    bool, typer.Option("--show-secrets", help="also print the password and the URL with credentials")
]


def _call(session: Session, method: str, *args: Any, **kwargs: Any) -> Any:
    """The backend's streaming method; bad arguments exit 2 naming the field."""
    from facility_common import InvalidJobSpec

    from .output import fail
    from .problems import EXIT

    try:
        return session.client.call_backend(method, *args, **kwargs)
    except InvalidJobSpec as exc:
        raise fail(
            EXIT.CONFIG, "bad argument", str(exc), "facility streaming backends lists what S3M takes"
        ) from None


def _pairs(values: list[str] | None, option: str, convert: type) -> dict[str, Any]:
    """``KEY=VALUE`` options as a mapping, each value converted (int, or a boolean word)."""
    found: dict[str, Any] = {}
    for item in values or ():
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=f"'{option}'")
        if convert is bool:
            words = {
                "true": True,
                "yes": True,
                "on": True,
                "1": True,
                "false": False,
                "no": False,
                "off": False,
                "0": False,
            }
            if raw.strip().lower() not in words:
                raise typer.BadParameter(
                    f"{item!r}: the value must be true or false", param_hint=f"'{option}'"
                )
            found[key.strip()] = words[raw.strip().lower()]
        else:
            try:
                found[key.strip()] = int(raw)
            except ValueError:
                raise typer.BadParameter(
                    f"{item!r}: the value must be an integer", param_hint=f"'{option}'"
                ) from None
    return found


def _expiry(when: datetime | None) -> str:
    if when is None:
        return ""
    left = when.timestamp() - time.time()
    return f"{fmt_time(when)} (in {fmt_duration(left)})" if left > 0 else f"{fmt_time(when)} (expired)"


def _cluster_dict(cluster: StreamingCluster, show_secrets: bool) -> dict[str, Any]:
    data = cluster.to_dict()
    if show_secrets and cluster.has_credentials:
        data["url"] = cluster.connection_url()
        data["password"] = cluster.password.get_secret_value() if cluster.password else None
    return data


def _print_cluster(cluster: StreamingCluster, show_secrets: bool) -> None:
    out(f"cluster     {cluster.engine} {cluster.name} ({cluster.kind})")
    out(
        f"state       {cluster.state.value}"
        + (f" (health {cluster.health_status})" if cluster.health_status else "")
    )
    if cluster.public_url:
        out(f"url         {cluster.public_url}")
    if cluster.endpoints.addresses:
        ports = ", ".join(f"{name} {port}" for name, port in cluster.endpoints.ports.items())
        out(f"endpoints   {', '.join(cluster.endpoints.addresses)}" + (f" ({ports})" if ports else ""))
    if cluster.management_url:
        out(f"management  {cluster.management_url}")
    if cluster.username:
        out(f"user        {cluster.username}")
    if cluster.resource_settings:
        out(f"settings    {', '.join(f'{k}={v}' for k, v in cluster.resource_settings.items())}")
    if cluster.expires_at:
        out(f"expires     {_expiry(cluster.expires_at)}")
    if show_secrets and cluster.has_credentials:
        out(f"password    {cluster.password.get_secret_value() if cluster.password else ''}")
        out(f"connect     {cluster.connection_url()}")
    elif cluster.has_credentials:
        note("credentials withheld: add --show-secrets to print the password and the connection URL")


@streaming_app.command()
def backends(conn: ConnOption = None, as_json: JsonOption = False) -> None:
    """The kinds of cluster the API provisions, with their settings' bounds and features."""
    from .session import open_session

    with open_session(conn) as session:
        found = _call(session, "streaming_backends")
    if wants_json(as_json):
        print_json([backend.to_dict() for backend in found])
        return
    rows = []
    for backend in found:
        settings = ", ".join(
            f"{o.key} {o.minimum}..{o.maximum} (default {o.default})" for o in backend.resource_options
        )
        flags = ", ".join(f"{f.key}={'on' if f.default else 'off'}" for f in backend.feature_flags)
        rows.append([backend.engine, backend.kind, settings, flags or "-", backend.description])
    table(["engine", "kind", "settings", "features", "description"], rows)


@streaming_app.command("list")
def list_clusters(
    engine: Annotated[str | None, typer.Option(help="only redis or only rabbitmq clusters")] = None,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """The project's clusters (no credentials: `show` one for those)."""
    from .session import open_session

    with open_session(conn) as session:
        found = _call(session, "list_streaming_clusters", engine)
    if wants_json(as_json):
        print_json([cluster.to_dict() for cluster in found])
    elif not found:
        note("no streaming clusters")
    else:
        rows = [[c.engine, c.name, c.kind, c.state.value, _expiry(c.expires_at)] for c in found]
        table(["engine", "name", "kind", "state", "expires"], rows)


@streaming_app.command()
def show(
    engine: EngineArg,
    name: NameArg,
    show_secrets: SecretsOption = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """One cluster: state, endpoints, lifetime (and its credentials with --show-secrets)."""
    from .session import open_session

    with open_session(conn) as session:
        cluster = _call(session, "get_streaming_cluster", engine, name)
    if wants_json(as_json):
        print_json(_cluster_dict(cluster, show_secrets))
    else:
        _print_cluster(cluster, show_secrets)


@streaming_app.command()
def create(
    engine: EngineArg,
    name: NameArg,
    kind: Annotated[str | None, typer.Option(help="the kind (default: the first the API lists)")] = None,
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="a resource setting, KEY=N (repeat): --set cpus=2")
    ] = None,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", help="a feature flag, KEY=true|false")
    ] = None,
    wait: Annotated[bool, typer.Option(help="wait until the cluster is ready")] = True,
    timeout: Annotated[
        float, typer.Option(help="give up waiting after this many seconds (exit 9)", min=0.0)
    ] = 600.0,
    interval: Annotated[float, typer.Option(help="seconds between status polls", min=0.01)] = 5.0,
    show_secrets: SecretsOption = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Provision a cluster (it lives 7 days unless extended) and, by default, wait until it is ready."""
    from .session import open_session

    resources = _pairs(setting, "--set", int)
    features = _pairs(feature, "--feature", bool)
    with open_session(conn) as session:
        cluster = _call(
            session,
            "create_streaming_cluster",
            engine,
            name,
            kind=kind,
            resources=resources,
            features=features,
        )
        note(f"provisioned {engine} cluster {name}" + ("; waiting until it is ready" if wait else ""))
        if wait:
            ready = _call(
                session, "wait_streaming_cluster", engine, name, timeout=timeout, poll_interval=interval
            )
            cluster = ready.with_credentials(cluster)
    if wants_json(as_json):
        print_json(_cluster_dict(cluster, show_secrets))
    else:
        _print_cluster(cluster, show_secrets)


@streaming_app.command()
def extend(engine: EngineArg, name: NameArg, conn: ConnOption = None, as_json: JsonOption = False) -> None:
    """Restart the cluster's 7-day countdown from now."""
    from .session import open_session

    with open_session(conn) as session:
        expires = _call(session, "extend_streaming_cluster", engine, name)
    if wants_json(as_json):
        print_json({"engine": engine, "name": name, "expires_at": expires.isoformat() if expires else None})
    else:
        out(f"{engine} cluster {name} now expires {_expiry(expires) or '(not stated)'}")


@streaming_app.command()
def delete(
    engine: EngineArg,
    name: NameArg,
    missing_ok: Annotated[
        bool, typer.Option("--missing-ok", help="no error when there is no such cluster")
    ] = False,
    conn: ConnOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a cluster and its data."""
    from .session import open_session

    with open_session(conn) as session:
        deleted = _call(session, "delete_streaming_cluster", engine, name, missing_ok=missing_ok)
    if wants_json(as_json):
        print_json({"engine": engine, "name": name, "deleted": deleted})
    else:
        out(
            f"deleted {engine} cluster {name}"
            if deleted
            else f"no {engine} cluster {name}: nothing to delete"
        )

"""Transfer's collection routes: the collection document and file operations.

* ``GET /endpoint/{id}`` -- the collection document (``entity_type``
  ``GCSv5_mapped_collection``); needs the Transfer scope only.
* ``GET /operation/endpoint/{id}/ls`` -- ``path`` (default ``/~/``), ``show_hidden``, ``limit``,
  ``offset``, ``orderby`` (``name``/``type``/``size``/``last_modified`` ASC|DESC), ``filter``
  (``type:dir``, ``name:=x``, ``name:~*.txt``); a ``file_list`` of ``file`` documents.
* ``POST /operation/endpoint/{id}/mkdir`` -- ``{"DATA_TYPE": "mkdir", "path"}``; 202
  ``DirectoryCreated``.

Both file operations need the collection's ``data_access`` consent. A missing path answers 404
``ClientError.NotFound``, listing a file 502 ``ExternalError.DirListingFailed.NotDirectory``, an
existing mkdir target 502 ``ExternalError.MkdirFailed.Exists``, a path outside the collection
403 ``EndpointPermissionDenied``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import grp
import json
import operator
import os
import pwd
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facility_emulator.facility import stable_id
from facility_emulator.globus.access import (
    PREFIX,
    VERSION,
    GlobusError,
    authorize,
    globus_route,
    lookup_collection,
    request_id,
    require_consent,
    resource_of,
)
from facility_emulator.globus.collections import Collection, PathRefused, catalog_of
from facility_emulator.globus.submission import bad_request
from facility_emulator.globus.tasks import event_time
from facility_emulator.state import EmulatorState

LS_LIMIT = 100_000
GCS_VERSION = "5.4.80"


def _owner_names(info: os.stat_result) -> tuple[str, str]:
    try:
        user = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        user = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return user, group


def _kind(mode: int) -> str:
    return "dir" if stat.S_ISDIR(mode) else "file"


def file_document(collection: Collection, path: Path) -> dict[str, Any]:
    """A ``file`` document; a link is followed only to a target inside the collection."""
    link = path.lstat()
    doc: dict[str, Any] = {
        "DATA_TYPE": "file",
        "name": path.name,
        "link_target": None,
        "link_group": None,
        "link_last_modified": None,
        "link_size": None,
        "link_user": None,
    }
    info = link
    if stat.S_ISLNK(link.st_mode):
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):  # dangling, or a loop
            target = None
        root = collection.root.resolve()
        if target is None or (target != root and root not in target.parents):
            user, group = _owner_names(link)
            return {
                **doc,
                "type": "invalid_symlink",
                "size": link.st_size,
                "permissions": f"{stat.S_IMODE(link.st_mode):04o}",
                "user": user,
                "group": group,
                "last_modified": event_time(datetime.fromtimestamp(link.st_mtime, UTC)),
            }
        info = target.stat()
        user, group = _owner_names(link)
        doc.update(
            link_target=collection.globus_path(target),
            link_group=group,
            link_user=user,
            link_size=link.st_size,
            link_last_modified=event_time(datetime.fromtimestamp(link.st_mtime, UTC)),
        )
    user, group = _owner_names(info)
    return {
        **doc,
        "type": _kind(info.st_mode),
        "size": info.st_size,
        "permissions": f"{stat.S_IMODE(info.st_mode):04o}",
        "user": user,
        "group": group,
        "last_modified": event_time(datetime.fromtimestamp(info.st_mtime, UTC)),
    }


def _path_error(
    collection: Collection, globus_path: str, message: str, status: int, code: str
) -> GlobusError:
    return GlobusError(
        status,
        code,
        f"{message}\nEndpoint: {collection.display_name} ({collection.id})\nPath: {globus_path}",
    )


def _matches(entry: dict[str, Any], clauses: list[tuple[str, str]]) -> bool:
    for key, value in clauses:
        alternatives = value.split(",")
        if key == "type" and entry["type"] not in alternatives:
            return False
        if key == "name":
            hits = [
                fnmatch.fnmatchcase(entry["name"], alt[1:])
                if alt.startswith("~")
                else entry["name"] == alt.lstrip("=")
                for alt in alternatives
            ]
            if not any(hits):
                return False
    return True


def _filters(request: Request) -> list[tuple[str, str]]:
    clauses = []
    for text in request.query_params.getlist("filter"):
        for clause in text.split("/"):
            key, sep, value = clause.partition(":")
            if not clause:
                continue
            if not sep or key not in ("type", "name"):
                raise bad_request(f"ls filter {clause!r}: use type:<dir|file> or name:<[=|~]value>")
            clauses.append((key, value))
    return clauses


def _sorted(entries: list[dict[str, Any]], orderby: str | None) -> list[dict[str, Any]]:
    for part in reversed([p for p in (orderby or "name ASC").split(",") if p.strip()]):
        words = part.split()
        field = words[0]
        direction = words[1].upper() if len(words) > 1 else "ASC"
        if field not in ("name", "type", "size", "last_modified") or direction not in ("ASC", "DESC"):
            raise bad_request(
                f"ls orderby {part.strip()!r}: use name, type, size or last_modified with ASC|DESC"
            )
        entries = sorted(entries, key=operator.itemgetter(field), reverse=direction == "DESC")
    return entries


class OperationRoutes:
    """Collection document, ls and mkdir."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.catalog = catalog_of(state)

    def routes(self) -> list[Route]:
        p = PREFIX + VERSION
        return [
            Route(f"{p}/endpoint/{{endpoint_id}}", globus_route(self.endpoint), methods=["GET"]),
            Route(f"{p}/operation/endpoint/{{endpoint_id}}/ls", globus_route(self.ls), methods=["GET"]),
            Route(
                f"{p}/operation/endpoint/{{endpoint_id}}/mkdir", globus_route(self.mkdir), methods=["POST"]
            ),
        ]

    async def endpoint(self, request: Request) -> Response:
        authorize(self.state, request)
        collection = lookup_collection(self.catalog, str(request.path_params["endpoint_id"]))
        return JSONResponse(collection_document(collection))

    async def ls(self, request: Request) -> Response:
        token = authorize(self.state, request)
        collection = lookup_collection(self.catalog, str(request.path_params["endpoint_id"]))
        require_consent(token, [collection])
        globus_path = request.query_params.get("path") or "/~/"
        show_hidden = request.query_params.get("show_hidden", "1").lower() not in ("0", "false")
        clauses = _filters(request)
        entries, absolute = await asyncio.to_thread(self._list, collection, globus_path)
        if not show_hidden:
            entries = [e for e in entries if not e["name"].startswith(".")]
        entries = _sorted([e for e in entries if _matches(e, clauses)], request.query_params.get("orderby"))
        limit = _bounded(request, "limit", LS_LIMIT)
        offset = _bounded(request, "offset", 0, maximum=None)
        page = entries[offset : offset + limit]
        shown = globus_path if globus_path.endswith("/") else globus_path + "/"
        return JSONResponse(
            {
                "DATA_TYPE": "file_list",
                "DATA": page,
                "path": shown,
                "absolute_path": absolute.rstrip("/") + "/",
                "endpoint": collection.id,
                "length": len(page),
                "total": len(entries),
                "rename_supported": True,
                "symlink_supported": False,
            }
        )

    def _list(self, collection: Collection, globus_path: str) -> tuple[list[dict[str, Any]], str]:
        """The directory's file documents and its path with ``~`` expanded."""
        try:
            directory = collection.host_path(self.state.sandbox, globus_path)
        except PathRefused as exc:
            raise _path_error(collection, globus_path, str(exc), 403, "EndpointPermissionDenied") from None
        if not directory.exists():
            raise _path_error(collection, globus_path, "Path not found", 404, "ClientError.NotFound")
        if not directory.is_dir():
            raise _path_error(
                collection, globus_path, "Not a directory", 502, "ExternalError.DirListingFailed.NotDirectory"
            )
        try:
            entries = [file_document(collection, child) for child in directory.iterdir()]
        except PermissionError:
            raise _path_error(
                collection, globus_path, "Permission denied", 403, "EndpointPermissionDenied"
            ) from None
        return entries, collection.globus_path(directory)

    async def mkdir(self, request: Request) -> Response:
        token = authorize(self.state, request)
        collection = lookup_collection(self.catalog, str(request.path_params["endpoint_id"]))
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise bad_request("the request body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("path"), str) or not body["path"].strip():
            raise bad_request("a mkdir document needs a path")
        require_consent(token, [collection])
        await asyncio.to_thread(self._make, collection, body["path"])
        return JSONResponse(
            {
                "DATA_TYPE": "mkdir_result",
                "code": "DirectoryCreated",
                "message": "The directory was created successfully",
                "request_id": request_id(),
                "resource": resource_of(request),
            },
            status_code=202,
        )

    def _make(self, collection: Collection, globus_path: str) -> None:
        try:
            target = collection.write_path(self.state.sandbox, globus_path)
        except PathRefused as exc:
            raise _path_error(collection, globus_path, str(exc), 403, "EndpointPermissionDenied") from None
        if target.exists() or target.is_symlink():
            raise _path_error(
                collection, globus_path, "Path already exists", 502, "ExternalError.MkdirFailed.Exists"
            )
        if not target.parent.is_dir():
            raise _path_error(
                collection, globus_path, "Parent directory not found", 404, "ClientError.NotFound"
            )
        try:
            target.mkdir()
        except PermissionError:
            raise _path_error(
                collection, globus_path, "Permission denied", 403, "EndpointPermissionDenied"
            ) from None


def _bounded(request: Request, name: str, default: int, maximum: int | None = LS_LIMIT) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw!r}") from None
    if value < 0 or (maximum is not None and value > maximum):
        raise bad_request(f"{name} must be between 0 and {maximum}")
    return value


def collection_document(collection: Collection) -> dict[str, Any]:
    """The ``endpoint`` document of a GCSv5 mapped collection."""
    host_id = stable_id("globus-gcs-endpoint", collection.facility)
    return {
        "DATA_TYPE": "endpoint",
        "id": collection.id,
        "display_name": collection.display_name,
        "canonical_name": f"emulator#{collection.name}",
        "entity_type": "GCSv5_mapped_collection",
        "gcs_version": GCS_VERSION,
        "organization": collection.organization,
        "department": None,
        "description": f"{collection.display_name}: the {collection.facility.upper()} storage of the emulator",
        "keywords": collection.facility,
        "contact_email": None,
        "contact_info": None,
        "info_link": None,
        "owner_id": None,
        "owner_string": f"{collection.facility}@emulator",
        "username": f"{collection.facility}@emulator",
        "public": True,
        "default_directory": "/~/",
        "host_endpoint_id": host_id,
        "host_endpoint_display_name": f"{collection.facility.upper()} GCS endpoint (emulated)",
        "non_functional": False,
        "non_functional_endpoint_id": None,
        "non_functional_endpoint_display_name": None,
        "shareable": False,
        "host_path": None,
        "french_english_bilingual": False,
        "globus_connect_setup_key": None,
        "myproxy_server": None,
        "myproxy_dn": None,
        "oauth_server": None,
        "s3_url": None,
        "s3_owner_activated": False,
        "high_assurance": False,
        "authentication_assurance_timeout": None,
        "authentication_timeout_mins": None,
        "mfa_required": False,
        "force_encryption": False,
        "force_verify": False,
        "disable_verify": False,
        "disable_anonymous_writes": False,
        "acl_available": False,
        "acl_editable": False,
        "in_use": False,
        "activated": True,
        "expires_in": -1,
        "expire_time": None,
        "is_globus_connect": False,
        "gcp_connected": None,
        "gcp_paused": None,
        "subscription_id": None,
        "tlsftp_server": None,
        "https_server": None,
        "gcs_manager_url": None,
        "local_user_info_available": False,
        "DATA": [],
    }

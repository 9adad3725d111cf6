"""Pure request builders of the FirecREST v2 backend.

Nothing here does I/O: :mod:`.backend` sends what these functions build through its
:class:`~facility_common.http.ApiSession`, whose retry policy and 401 refresh apply to every call.
Paths are relative to the FirecREST root (``https://api.cscs.ch/hpc/firecrest/v2``) and follow
the published OpenAPI document (2.5.6): bodies in camelCase, ``ops`` answers wrapped in
``{"output": ...}``, success statuses as the document lists them.

Which calls may be sent again after an answer was lost: reads, ``PUT``\\ s and ``DELETE``\\ s
(the method says so), ``mkdir`` with parents, and ``compress``/``extract``, which rewrite the same
target. A submit, a ``symlink`` and every ``transfer/*`` call (each starts a scheduler job) are not.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from ...http import ApiRequest
from ...url_paths import path_segment

__all__ = [
    "LEGACY_TRANSFER_VERSION",
    "build_cancel",
    "build_checksum",
    "build_chmod",
    "build_chown",
    "build_compress",
    "build_direct_download",
    "build_direct_upload",
    "build_extract",
    "build_file_type",
    "build_get_job",
    "build_head",
    "build_job_metadata",
    "build_list_jobs",
    "build_ls",
    "build_mkdir",
    "build_reservations",
    "build_rm",
    "build_stat",
    "build_submit",
    "build_symlink",
    "build_systems",
    "build_tail",
    "build_transfer",
    "build_transfer_compress",
    "build_transfer_download",
    "build_transfer_extract",
    "build_transfer_rm",
    "build_transfer_upload",
    "build_userinfo",
    "build_view",
]

#: Servers before this version take the staged transfers' older bodies (no ``transferDirectives``).
LEGACY_TRANSFER_VERSION = (2, 4, 0)
FACILITY = "firecrest"


def _segment(value: str, field: str = "resource") -> str:
    """One path segment (a system name, a job id), written so that it cannot change the route."""
    return path_segment(value, field=field, facility=FACILITY)


def _ops(system: str, operation: str) -> str:
    return f"filesystem/{_segment(system)}/ops/{operation}"


def _transfer(system: str, operation: str) -> str:
    return f"filesystem/{_segment(system)}/transfer/{operation}"


def _jobs(system: str, job_id: str | None = None, tail: str = "") -> str:
    path = f"compute/{_segment(system)}/jobs"
    if job_id is not None:
        path += f"/{_segment(job_id, 'job_id')}"
    return path + tail


def _with_account(body: dict[str, Any], account: str | None) -> dict[str, Any]:
    if account:
        body["account"] = account
    return body


# -- status -------------------------------------------------------------------------------------


def build_systems() -> ApiRequest:
    """``GET /status/systems``: every system with its health, file systems and limits."""
    return ApiRequest("GET", "status/systems", ok=(200,))


def build_reservations(system: str) -> ApiRequest:
    """``GET /status/{system}/reservations``: the scheduler's reservations."""
    return ApiRequest("GET", f"status/{_segment(system)}/reservations", ok=(200,))


def build_userinfo(system: str) -> ApiRequest:
    """``GET /status/{system}/userinfo``: the user's name, groups and accounts."""
    return ApiRequest("GET", f"status/{_segment(system)}/userinfo", ok=(200,))


# -- jobs ---------------------------------------------------------------------------------------


def build_submit(system: str, body: Mapping[str, Any]) -> ApiRequest:
    """``POST /compute/{system}/jobs`` with a ``PostJobSubmitRequest`` (:func:`.script.submit_body`).

    Only 201 is the API's success: any other 2xx answer is taken as accepted but unreadable.
    """
    return ApiRequest("POST", _jobs(system), json=dict(body), ok=(201,))


def build_list_jobs(system: str) -> ApiRequest:
    """``GET /compute/{system}/jobs``: the user's jobs on the system."""
    return ApiRequest("GET", _jobs(system), ok=(200,))


def build_get_job(system: str, job_id: str) -> ApiRequest:
    """``GET /compute/{system}/jobs/{job_id}``: one job (404 "Job not found" when unknown)."""
    return ApiRequest("GET", _jobs(system, job_id), ok=(200,))


def build_job_metadata(system: str, job_id: str) -> ApiRequest:
    """``GET /compute/{system}/jobs/{job_id}/metadata``: the job's script and output paths."""
    return ApiRequest("GET", _jobs(system, job_id, "/metadata"), ok=(200,))


def build_cancel(system: str, job_id: str) -> ApiRequest:
    """``DELETE /compute/{system}/jobs/{job_id}``."""
    return ApiRequest("DELETE", _jobs(system, job_id), ok=(200, 204))


# -- synchronous file operations ----------------------------------------------------------------


def build_ls(system: str, path: str, *, show_hidden: bool) -> ApiRequest:
    """``GET ops/ls``: the entries of a directory."""
    return ApiRequest("GET", _ops(system, "ls"), params={"path": path, "showHidden": show_hidden}, ok=(200,))


def build_stat(system: str, path: str) -> ApiRequest:
    """``GET ops/stat``: ``os.stat`` of a path (not following a final link)."""
    return ApiRequest("GET", _ops(system, "stat"), params={"path": path}, ok=(200,))


def build_mkdir(system: str, path: str, *, parents: bool) -> ApiRequest:
    """``POST ops/mkdir`` (201); with ``parents`` sending it again is harmless."""
    return ApiRequest(
        "POST",
        _ops(system, "mkdir"),
        json={"sourcePath": path, "parent": parents},
        idempotent=parents,
        ok=(201,),
    )


def build_rm(system: str, path: str) -> ApiRequest:
    """``DELETE ops/rm`` (204); the server answers 408 when it takes longer than it waits."""
    return ApiRequest("DELETE", _ops(system, "rm"), params={"path": path}, ok=(200, 204))


def build_chmod(system: str, path: str, mode: str) -> ApiRequest:
    """``PUT ops/chmod``."""
    return ApiRequest("PUT", _ops(system, "chmod"), json={"sourcePath": path, "mode": mode}, ok=(200,))


def build_chown(system: str, path: str, owner: str | None, group: str | None) -> ApiRequest:
    """``PUT ops/chown``; an empty owner or group leaves it as it is."""
    body = {"sourcePath": path, "owner": owner or "", "group": group or ""}
    return ApiRequest("PUT", _ops(system, "chown"), json=body, ok=(200,))


def build_symlink(system: str, target: str, link_path: str) -> ApiRequest:
    """``POST ops/symlink`` (201): ``link_path`` points at ``target``."""
    body = {"sourcePath": target, "linkPath": link_path}
    return ApiRequest("POST", _ops(system, "symlink"), json=body, ok=(201,))


def build_checksum(system: str, path: str) -> ApiRequest:
    """``GET ops/checksum``: the file's SHA-256."""
    return ApiRequest("GET", _ops(system, "checksum"), params={"path": path}, ok=(200,))


def build_file_type(system: str, path: str) -> ApiRequest:
    """``GET ops/file``: what ``file`` says of the path."""
    return ApiRequest("GET", _ops(system, "file"), params={"path": path}, ok=(200,))


def build_compress(system: str, source: str, target: str, compression: str) -> ApiRequest:
    """``POST ops/compress`` (204); 408 when it takes longer than the server waits."""
    body = {"sourcePath": source, "targetPath": target, "dereference": False, "compression": compression}
    return ApiRequest("POST", _ops(system, "compress"), json=body, idempotent=True, ok=(204,))


def build_extract(system: str, source: str, target: str, compression: str) -> ApiRequest:
    """``POST ops/extract`` (204); 408 when it takes longer than the server waits."""
    body = {"sourcePath": source, "targetPath": target, "compression": compression}
    return ApiRequest("POST", _ops(system, "extract"), json=body, idempotent=True, ok=(204,))


def build_view(system: str, path: str, *, offset: int, size: int) -> ApiRequest:
    """``GET ops/view``: ``size`` bytes from ``offset``. The server takes at most the system's
    ``max_ops_file_size`` and defaults to 5 MiB, so the size is always given."""
    params = {"path": path, "offset": offset, "size": size}
    return ApiRequest("GET", _ops(system, "view"), params=params, ok=(200,))


def _lines_or_bytes(path: str, lines: int | None, nbytes: int | None) -> dict[str, Any]:
    return {"path": path, "lines": lines, "bytes": nbytes}


def build_head(system: str, path: str, *, lines: int | None, nbytes: int | None) -> ApiRequest:
    """``GET ops/head``: the first lines or bytes (10 lines when neither is given)."""
    return ApiRequest("GET", _ops(system, "head"), params=_lines_or_bytes(path, lines, nbytes), ok=(200,))


def build_tail(system: str, path: str, *, lines: int | None, nbytes: int | None) -> ApiRequest:
    """``GET ops/tail``: the last lines or bytes (10 lines when neither is given)."""
    return ApiRequest("GET", _ops(system, "tail"), params=_lines_or_bytes(path, lines, nbytes), ok=(200,))


def build_direct_upload(system: str, remote_path: str, content: bytes) -> ApiRequest:
    """``POST ops/upload?path=<directory>`` with the file as the multipart part ``file`` (204);
    the stored name is the part's file name (see :func:`.files.check_upload_name`)."""
    directory, name = posixpath.split(remote_path)
    return ApiRequest(
        "POST",
        _ops(system, "upload"),
        params={"path": directory or "/"},
        files={"file": (name, content, "application/octet-stream")},
        ok=(204,),
    )


def build_direct_download(system: str, path: str) -> tuple[str, dict[str, str]]:
    """The path and query of ``GET ops/download`` (raw bytes; read as a stream)."""
    return _ops(system, "download"), {"path": path}


# -- transfer jobs ------------------------------------------------------------------------------


def build_transfer(
    system: str, operation: str, source: str, target: str, *, account: str | None
) -> ApiRequest:
    """``POST transfer/cp`` or ``transfer/mv`` (201 with the ``transferJob``)."""
    body: dict[str, Any] = {"sourcePath": source, "targetPath": target}
    if operation == "cp":
        body["dereference"] = False
    return ApiRequest("POST", _transfer(system, operation), json=_with_account(body, account), ok=(201,))


def build_transfer_rm(system: str, path: str, *, account: str | None) -> ApiRequest:
    """``DELETE transfer/rm`` (200 with the ``transferJob``), after ``ops/rm`` took too long."""
    params = {"path": path, "account": account or None}
    return ApiRequest("DELETE", _transfer(system, "rm"), params=params, ok=(200, 201))


def build_transfer_compress(
    system: str, source: str, target: str, compression: str, *, account: str | None
) -> ApiRequest:
    """``POST transfer/compress`` (201), after ``ops/compress`` took too long."""
    body = {"sourcePath": source, "targetPath": target, "dereference": False, "compression": compression}
    return ApiRequest("POST", _transfer(system, "compress"), json=_with_account(body, account), ok=(201,))


def build_transfer_extract(
    system: str, source: str, target: str, compression: str, *, account: str | None
) -> ApiRequest:
    """``POST transfer/extract`` (201), after ``ops/extract`` took too long."""
    body = {"sourcePath": source, "targetPath": target, "compression": compression}
    return ApiRequest("POST", _transfer(system, "extract"), json=_with_account(body, account), ok=(201,))


def build_transfer_upload(
    system: str,
    remote_path: str,
    size: int,
    *,
    account: str | None,
    version: tuple[int, ...] | None = None,
    method: str = "s3",
) -> ApiRequest:
    """``POST transfer/upload`` (201): a staged (S3) upload of ``size`` bytes to ``remote_path``,
    or with ``method="streamer"`` a streamer upload (the answer's coordinates say where the
    transfer job listens for the file).

    The S3 answer holds presigned part URLs and the transfer job that moves the file into place.
    Servers before :data:`LEGACY_TRANSFER_VERSION` take the directory and file name apart.
    """
    body: dict[str, Any]
    if method == "streamer":
        body = {"sourcePath": remote_path, "transferDirectives": {"transferMethod": "streamer"}}
    elif version is not None and version < LEGACY_TRANSFER_VERSION:
        directory, name = posixpath.split(remote_path)
        body = {"sourcePath": directory or "/", "fileName": name, "fileSize": size}
    else:
        body = {"sourcePath": remote_path, "transferDirectives": {"transferMethod": "s3", "fileSize": size}}
    return ApiRequest("POST", _transfer(system, "upload"), json=_with_account(body, account), ok=(201,))


def build_transfer_download(
    system: str,
    remote_path: str,
    *,
    account: str | None,
    version: tuple[int, ...] | None = None,
    method: str = "s3",
) -> ApiRequest:
    """``POST transfer/download`` (201): a transfer job stages the file; its answer holds the
    presigned URL to read it from once the job is done (``method="streamer"``: the transfer job
    sends the file itself, from where the answer's coordinates say)."""
    body: dict[str, Any] = {"sourcePath": remote_path}
    if method == "streamer" or version is None or version >= LEGACY_TRANSFER_VERSION:
        body["transferDirectives"] = {"transferMethod": method}
    return ApiRequest("POST", _transfer(system, "download"), json=_with_account(body, account), ok=(201,))

"""Parsers of the IRI Facility API's filesystem tasks: what a finished task's ``result`` holds.

Every filesystem call returns a task (``_parse_task_submit`` reads its id); once the task ends,
these turn its ``result`` into our models, with no I/O, so they are tested on recorded payloads.
Deployments wrap results differently (``{"output": ...}`` or bare, base64 or plain text), and
each parser accepts the forms seen.

**Checksums** are returned as ``"<algorithm>:<hex>"`` with the algorithm lowercased and without
dashes (the API's ``SHA-256`` becomes ``sha256``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import posixpath
import re
import stat as stat_module
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import APIError, FacilityError, NotFoundError, UnsupportedOperation
from ...models import FileEntry
from .parsers import _to_datetime, _to_int
from .requests import FACILITY, IRI_FILE_LIMIT

_NOT_FOUND_MESSAGE = re.compile(r"not\s+found|no\s+such\s+file|does\s+not\s+exist", re.IGNORECASE)
_TOO_LARGE_MESSAGE = re.compile(r"too\s+large|exceed|larger\s+than|size\s+limit", re.IGNORECASE)


def _parse_task_submit(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("task_id", "id"):
            if data.get(key):
                return str(data[key])
    raise ValueError("the answer names no task_id")


def _task_output(result: Any) -> Any:
    """A task's ``result`` without its ``{"output": ...}`` envelope."""
    if isinstance(result, dict) and "output" in result:
        return result["output"]
    return result


def _task_error_text(task: Mapping[str, Any]) -> str:
    result = task.get("result")
    if isinstance(result, dict):
        for key in ("error", "detail", "message", "output", "reason"):
            value = result.get(key)
            if isinstance(value, str) and value:
                return value
        return str(result) if result else ""
    if isinstance(result, str):
        return result
    for key in ("message", "error", "detail"):
        value = task.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _task_failure(task: Mapping[str, Any], *, op: str, path: str, resource: str) -> FacilityError:
    """The exception for a task that ended ``failed`` or ``canceled``."""
    status = task.get("status")
    text = _task_error_text(task)
    message = f"{op} {path} on {resource}: task {task.get('id')} {status}" + (f": {text}" if text else "")
    if status == "failed" and _NOT_FOUND_MESSAGE.search(text):
        return NotFoundError(message, facility=FACILITY, resource=resource)
    if status == "failed" and op in ("download", "view") and _TOO_LARGE_MESSAGE.search(text):
        return UnsupportedOperation(
            f"{message}. The IRI API moves at most {IRI_FILE_LIMIT} bytes per call; "
            "use Globus for larger files.",
            facility=FACILITY,
            resource=resource,
        )
    return APIError(message, facility=FACILITY, resource=resource)


_LS_TYPES = {
    "d": "directory",
    "dir": "directory",
    "directory": "directory",
    "-": "file",
    "f": "file",
    "file": "file",
    "regular": "file",
    "l": "symlink",
    "link": "symlink",
    "symlink": "symlink",
}


def _permissions(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[1:] if len(value) == 10 else value


def _parse_ls_entry(item: Mapping[str, Any], directory: str) -> FileEntry:
    name = str(item.get("name", ""))
    kind = str(item.get("type") or "").strip().lower()
    return FileEntry(
        name=posixpath.basename(name.rstrip("/")) or name,
        path=posixpath.join(directory, name),
        type=_LS_TYPES.get(kind, "other"),
        size=_to_int(item.get("size")),
        permissions=_permissions(item.get("permissions")),
        user=item.get("user"),
        group=item.get("group"),
        modified_at=_to_datetime(item.get("last_modified", item.get("lastModified"))),
        link_target=item.get("link_target", item.get("linkTarget")) or None,
    )


def _parse_ls(result: Any, directory: str) -> list[FileEntry]:
    output = _task_output(result)
    if not isinstance(output, list):
        raise ValueError("ls answered no list of entries")
    return [_parse_ls_entry(item, directory) for item in output if isinstance(item, dict)]


def _parse_stat(result: Any, path: str) -> FileEntry:
    """A stat result: either ``os.stat`` fields (``mode``, ``size``, ``mtime``...) or an ls entry."""
    output = _task_output(result)
    if isinstance(output, list) and len(output) == 1 and isinstance(output[0], dict):
        output = output[0]
    if not isinstance(output, dict):
        raise ValueError("stat answered no object")
    name = posixpath.basename(path.rstrip("/")) or path
    if "mode" not in output and "type" in output:
        entry = _parse_ls_entry({**output, "name": output.get("name") or name}, posixpath.dirname(path))
        return dataclasses.replace(entry, name=name, path=path)
    mode = _to_int(output.get("mode"))
    kind = "other"
    permissions = None
    if mode is not None:
        if stat_module.S_ISDIR(mode):
            kind = "directory"
        elif stat_module.S_ISREG(mode):
            kind = "file"
        elif stat_module.S_ISLNK(mode):
            kind = "symlink"
        permissions = stat_module.filemode(mode)[1:]
    uid, gid = output.get("uid"), output.get("gid")
    return FileEntry(
        name=name,
        path=path,
        type=kind,
        size=_to_int(output.get("size")),
        permissions=permissions,
        user=str(uid) if uid is not None else None,
        group=str(gid) if gid is not None else None,
        modified_at=_to_datetime(output.get("mtime")),
    )


def _parse_content(result: Any) -> str:
    """The text of a head/tail/view result (``{content, content_type, ...}`` or a bare string)."""
    output = _task_output(result)
    if isinstance(output, str):
        return output
    if isinstance(output, dict) and isinstance(output.get("content"), str):
        if _is_base64(output):
            return _b64(output["content"]).decode("utf-8", errors="replace")
        return str(output["content"])
    raise ValueError("the answer holds no file content")


def _is_base64(data: Mapping[str, Any]) -> bool:
    for key in ("encoding", "content_encoding", "contentEncoding", "transfer_encoding"):
        value = data.get(key)
        if isinstance(value, str) and value.strip().lower() in ("base64", "b64"):
            return True
    return data.get("base64") is True or data.get("is_base64") is True


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


_TEXT_ENCODINGS = frozenset({"utf-8", "utf8", "text", "plain"})


def _download_url(result: Any) -> str | None:
    """The URL a download result points at (``{"output": "https://..."}``: the spec calls the
    output a "download URL or identifier"), or None when the result holds the content itself."""
    output = _task_output(result)
    if isinstance(output, str) and re.match(r"^https?://", output.strip(), re.IGNORECASE):
        return output.strip()
    return None


def _parse_download(result: Any) -> bytes:
    """The bytes of a download result whose content is inline; ``ValueError`` for any other shape.

    A bare string is base64 (the reference server's ``{"output": "<base64 of the file>"}``); a
    dict carries ``content`` with ``encoding: base64`` (or a text encoding), or base64 under
    ``content_base64``/``base64_content``/``data_base64``/``data``. Content whose encoding is not
    known is refused rather than written as it came: a file is only ever written decoded.
    """
    output = _task_output(result)
    if isinstance(output, str):
        try:
            return _b64(output.strip())
        except (binascii.Error, ValueError):
            raise ValueError("the download result is a string that is neither base64 nor a URL") from None
    if isinstance(output, dict):
        for key in ("content_base64", "base64_content", "data_base64", "data"):
            value = output.get(key)
            if isinstance(value, str):
                return _b64(value)
        content = output.get("content")
        if isinstance(content, str):
            if _is_base64(output):
                return _b64(content)
            encoding = output.get("encoding")
            if isinstance(encoding, str) and encoding.strip().lower() in _TEXT_ENCODINGS:
                return content.encode("utf-8")
            raise ValueError(f"the download result's content has an unknown encoding ({encoding!r})")
    raise ValueError("the download result holds no content")


_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _algorithm_name(value: str) -> str:
    """``SHA-256`` -> ``sha256``, ``sha_512`` -> ``sha512``: lowercase, no dashes or underscores."""
    return re.sub(r"[-_\s]", "", value).lower()


def _parse_checksum(result: Any) -> str:
    """A checksum result as ``"<algorithm>:<hex digest>"``. The spec's operation computes SHA-256;
    answers come as ``{algorithm, checksum}`` (also ``hash``/``digest``/``value``), as a bare
    digest, as ``"<algorithm>:<digest>"`` or as ``sha256sum`` output (``"<digest>  <path>"``)."""
    output = _task_output(result)
    algorithm = "sha256"
    digest: Any = None
    if isinstance(output, dict):
        for key in ("algorithm", "algo", "hash_type", "type"):
            if isinstance(output.get(key), str) and output[key].strip():
                algorithm = _algorithm_name(output[key])
                break
        for key in ("checksum", "hash", "digest", "value"):
            if isinstance(output.get(key), str):
                digest = output[key]
                break
    elif isinstance(output, str):
        digest = output
    if not isinstance(digest, str) or not digest.strip():
        raise ValueError("the checksum result holds no digest")
    text = digest.strip().split()[0]
    if ":" in text:
        named, text = text.split(":", 1)
        algorithm = _algorithm_name(named)
    if not algorithm or not _HEX.match(text):
        raise ValueError(f"the checksum result {digest!r} is not a hex digest")
    return f"{algorithm}:{text.lower()}"


def _parse_file_type(result: Any, path: str) -> str:
    """What ``file`` says of ``path``: the result's text (or its ``type``/``file_type``/
    ``description`` field) without the ``"<path>: "`` prefix the ``file`` command prints."""
    output = _task_output(result)
    if isinstance(output, dict):
        output = next(
            (output[key] for key in ("type", "file_type", "description", "content") if key in output),
            None,
        )
    if not isinstance(output, str) or not output.strip():
        raise ValueError("the file result holds no type description")
    text = output.strip()
    prefix = f"{path}: "
    return text[len(prefix) :].strip() if text.startswith(prefix) else text


def _pick_output_file(entries: Sequence[FileEntry], job_id: str, stream: str) -> FileEntry | None:
    """In a directory given as stdout/stderr path, the job's file: PBS ``<name>.o<seq>`` /
    ``<name>.e<seq>``, or a file naming the job id and out/err."""
    sequence = job_id.split(".", 1)[0]
    letter = "o" if stream == "stdout" else "e"
    word = "out" if stream == "stdout" else "err"
    files = [entry for entry in entries if entry.type != "directory"]
    for entry in files:
        if entry.name.endswith(f".{letter}{sequence}"):
            return entry
    for entry in files:
        if sequence in entry.name and word in entry.name.lower():
            return entry
    return None

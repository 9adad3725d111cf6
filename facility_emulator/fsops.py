"""Filesystem operations on the sandbox, shared by every flavour that exposes file access.

Each function takes the :class:`~facility_emulator.sandbox.Sandbox` and plain arguments and
returns the JSON-ready ``output`` of the operation, raising :class:`TaskFailure` (or
``OSError``) on failure. Output shapes follow the IRI/FirecREST models:

* ``ls`` -- list of ``{name, type, link_target, user, group, permissions, last_modified, size}``
  (``type`` is the ``ls -l`` type letter, ``size`` a decimal string, as in FirecREST).
* ``view``/``head``/``tail`` -- ``{content, content_type, start_position, end_position}`` with
  ``content_type`` ``"bytes"`` or ``"lines"``; content is UTF-8 text (invalid bytes replaced).
* ``stat`` -- ``{mode, ino, dev, nlink, uid, gid, size, atime, ctime, mtime}`` (integers).
* ``checksum`` -- ``{algorithm: "SHA-256", checksum}``; ``file`` -- a short type description.
* ``download`` -- ``{content, encoding: "base64", size, path}``: the file's bytes, base64 encoded
  so binary files round-trip exactly.
* ``upload`` and the mutating operations -- ``{path}`` of the result (and more where useful).
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import pwd
import re
import shutil
import stat as statmod
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facility_emulator.sandbox import Sandbox, SandboxError
from facility_emulator.tasks import TaskFailure

MAX_TRANSFER = 5242880
COMPRESSION_MODES = {"none": "", "gzip": "gz", "bzip2": "bz2", "xz": "xz"}


def _resolve(sandbox: Sandbox, raw: str | None, follow: bool = True) -> Path:
    if not raw:
        raise TaskFailure("path is required")
    try:
        return sandbox.resolve(raw, follow=follow)
    except SandboxError as exc:
        raise TaskFailure(str(exc)) from exc


def _destination(sandbox: Sandbox, raw: str | None) -> Path:
    """A path the operation writes to; a final link must not point outside."""
    if not raw:
        raise TaskFailure("target path is required")
    try:
        return sandbox.destination(raw)
    except SandboxError as exc:
        raise TaskFailure(str(exc)) from exc


def _existing(sandbox: Sandbox, raw: str | None, follow: bool = True) -> Path:
    path = _resolve(sandbox, raw, follow)
    if not (path.exists() or path.is_symlink()):
        raise TaskFailure(f"no such file or directory: {raw}")
    return path


def _owner(uid: int, numeric: bool) -> str:
    if numeric:
        return str(uid)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int, numeric: bool) -> str:
    if numeric:
        return str(gid)
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _entry(path: Path, name: str, numeric: bool, dereference: bool) -> dict[str, Any]:
    info = path.stat() if dereference and path.exists() else path.lstat()
    mode = info.st_mode
    return {
        "name": name,
        "type": statmod.filemode(mode)[0],
        "link_target": os.readlink(path) if path.is_symlink() else None,
        "user": _owner(info.st_uid, numeric),
        "group": _group(info.st_gid, numeric),
        "permissions": statmod.filemode(mode)[1:],
        "last_modified": datetime.fromtimestamp(info.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "size": str(info.st_size),
    }


def ls(
    sandbox: Sandbox,
    path: str,
    show_hidden: bool = False,
    numeric_uid: bool = False,
    recursive: bool = False,
    dereference: bool = False,
) -> list[dict[str, Any]]:
    """List a directory (or describe one file)."""
    target = _existing(sandbox, path, follow=True)
    if not target.is_dir():
        return [_entry(target, target.name, numeric_uid, dereference)]
    entries: list[dict[str, Any]] = []

    def walk(directory: Path, prefix: str) -> None:
        for child in sorted(directory.iterdir(), key=lambda p: p.name):
            if child.name.startswith(".") and not show_hidden:
                continue
            name = f"{prefix}{child.name}"
            entries.append(_entry(child, name, numeric_uid, dereference))
            if recursive and child.is_dir() and not child.is_symlink():
                walk(child, f"{name}/")

    walk(target, "")
    return entries


def _read_file(sandbox: Sandbox, path: str) -> tuple[Path, bytes]:
    target = _existing(sandbox, path)
    if target.is_dir():
        raise TaskFailure(f"{path} is a directory")
    return target, target.read_bytes()


def _content(data: bytes, unit: str, start: int, end: int) -> dict[str, Any]:
    return {
        "content": data.decode("utf-8", errors="replace"),
        "content_type": unit,
        "start_position": start,
        "end_position": end,
    }


def view(sandbox: Sandbox, path: str, size: int | None = None, offset: int = 0) -> dict[str, Any]:
    """Bytes ``offset`` .. ``offset+size`` of a file (at most 5 MiB)."""
    target = _existing(sandbox, path)
    if target.is_dir():
        raise TaskFailure(f"{path} is a directory")
    length = size if size else MAX_TRANSFER
    if length > MAX_TRANSFER:
        raise TaskFailure(f"size {length} exceeds the limit of {MAX_TRANSFER} bytes")
    if offset < 0:
        raise TaskFailure("offset must be >= 0")
    with open(target, "rb") as handle:
        handle.seek(offset)
        data = handle.read(length)
    return _content(data, "bytes", offset, offset + len(data))


def _split_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def head(
    sandbox: Sandbox,
    path: str,
    nbytes: int | None = None,
    lines: int | None = None,
    skip_trailing: bool = False,
) -> dict[str, Any]:
    """First N bytes/lines (default 10 lines); with skip_trailing, all but the last N."""
    if nbytes is not None and lines is not None:
        raise TaskFailure("give bytes or lines, not both")
    _, data = _read_file(sandbox, path)
    if nbytes is not None:
        chunk = data[: max(len(data) - nbytes, 0)] if skip_trailing else data[:nbytes]
        return _content(chunk, "bytes", 0, len(chunk))
    count = 10 if lines is None else lines
    parts = _split_lines(data)
    chosen = parts[: max(len(parts) - count, 0)] if skip_trailing else parts[:count]
    return _content(b"".join(chosen), "lines", 0, len(chosen))


def tail(
    sandbox: Sandbox,
    path: str,
    nbytes: int | None = None,
    lines: int | None = None,
    skip_heading: bool = False,
) -> dict[str, Any]:
    """Last N bytes/lines (default 10 lines); with skip_heading, everything from the N-th on."""
    if nbytes is not None and lines is not None:
        raise TaskFailure("give bytes or lines, not both")
    _, data = _read_file(sandbox, path)
    if nbytes is not None:
        start = min(max(nbytes - 1, 0), len(data)) if skip_heading else max(len(data) - nbytes, 0)
        return _content(data[start:], "bytes", start, len(data))
    count = 10 if lines is None else lines
    parts = _split_lines(data)
    start = min(max(count - 1, 0), len(parts)) if skip_heading else max(len(parts) - count, 0)
    return _content(b"".join(parts[start:]), "lines", start, len(parts))


def stat(sandbox: Sandbox, path: str, dereference: bool = False) -> dict[str, int]:
    """``stat``/``lstat`` of a path."""
    target = _existing(sandbox, path, follow=dereference)
    info = target.stat() if dereference else target.lstat()
    return {
        "mode": info.st_mode,
        "ino": info.st_ino,
        "dev": info.st_dev,
        "nlink": info.st_nlink,
        "uid": info.st_uid,
        "gid": info.st_gid,
        "size": info.st_size,
        "atime": int(info.st_atime),
        "ctime": int(info.st_ctime),
        "mtime": int(info.st_mtime),
    }


def file_type(sandbox: Sandbox, path: str) -> str:
    """A ``file(1)``-like description."""
    target = _existing(sandbox, path, follow=False)
    if target.is_symlink():
        return f"symbolic link to {os.readlink(target)}"
    if target.is_dir():
        return "directory"
    with open(target, "rb") as handle:
        sample = handle.read(8192)
    if not sample:
        return "empty"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return "data"
    return "ASCII text" if sample.isascii() else "UTF-8 Unicode text"


def checksum(sandbox: Sandbox, path: str) -> dict[str, str]:
    """SHA-256 of a file."""
    target = _existing(sandbox, path)
    if target.is_dir():
        raise TaskFailure(f"{path} is a directory")
    digest = hashlib.sha256()
    with open(target, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"algorithm": "SHA-256", "checksum": digest.hexdigest()}


def download(sandbox: Sandbox, path: str) -> dict[str, Any]:
    """A small file's bytes, base64 encoded."""
    target = _existing(sandbox, path)
    if target.is_dir():
        raise TaskFailure(f"{path} is a directory")
    size = target.stat().st_size
    if size > MAX_TRANSFER:
        raise TaskFailure(f"file is {size} bytes; download is limited to {MAX_TRANSFER} bytes")
    data = target.read_bytes()
    return {
        "content": base64.b64encode(data).decode("ascii"),
        "encoding": "base64",
        "size": len(data),
        "path": str(target),
    }


def upload_target(sandbox: Sandbox, path: str, filename: str | None) -> Path:
    """Where an upload goes: into ``path`` when it is a directory, else ``path`` itself."""
    target = _resolve(sandbox, path)
    if target.is_dir():
        if not filename:
            raise TaskFailure("uploading into a directory needs a file name")
        target = _resolve(sandbox, str(target / Path(filename).name))
    if not target.parent.is_dir():
        raise TaskFailure(f"directory {target.parent} does not exist")
    return target


def upload(sandbox: Sandbox, target: Path, data: bytes) -> dict[str, Any]:
    """Write uploaded bytes."""
    if len(data) > MAX_TRANSFER:
        raise TaskFailure(f"upload of {len(data)} bytes exceeds the limit of {MAX_TRANSFER} bytes")
    target.write_bytes(data)
    return {"path": str(target), "size": len(data)}


def mkdir(sandbox: Sandbox, path: str, parent: bool = False) -> dict[str, Any]:
    """Create a directory (with parents when asked)."""
    target = _resolve(sandbox, path)
    target.mkdir(parents=parent, exist_ok=parent)
    return {"path": str(target)}


def symlink(sandbox: Sandbox, path: str, link_path: str) -> dict[str, Any]:
    """Create ``link_path`` pointing to ``path``; the target must lie inside the sandbox."""
    target = _resolve(sandbox, path)
    link = _resolve(sandbox, link_path, follow=False)
    link.symlink_to(target)
    return {"path": str(link), "link_target": str(target)}


def _check_links_inside(sandbox: Sandbox, root: Path) -> None:
    """Refuse to dereference a tree that contains links escaping the sandbox."""
    try:
        sandbox.check_tree(root)
    except SandboxError as exc:
        raise TaskFailure(str(exc)) from exc


def cp(sandbox: Sandbox, path: str, target_path: str, dereference: bool = False) -> dict[str, Any]:
    """Copy a file or a directory tree."""
    source = _existing(sandbox, path, follow=True)
    target = _destination(sandbox, target_path)
    if dereference:
        _check_links_inside(sandbox, source)
    if source.is_dir():
        if target.is_dir():
            target = target / source.name
        shutil.copytree(source, target, symlinks=not dereference)
    else:
        shutil.copy2(source, target, follow_symlinks=True)
    return {"path": str(target)}


def mv(sandbox: Sandbox, path: str, target_path: str) -> dict[str, Any]:
    """Move or rename."""
    source = _existing(sandbox, path, follow=False)
    target = _destination(sandbox, target_path)
    if source in (sandbox.root, sandbox.home):
        raise TaskFailure("refusing to move the sandbox root or home")
    return {"path": str(shutil.move(source, target))}


def normalize_compression(value: str | None) -> str:
    """Accept v1 names (``gzip``) and v2 URNs (``urn:doe-iri:compression:gzip``)."""
    name = (value or "gzip").rsplit(":", 1)[-1]
    if name not in COMPRESSION_MODES:
        raise TaskFailure(f"unsupported compression {value!r}")
    return name


def compress(
    sandbox: Sandbox,
    path: str,
    target_path: str,
    match_pattern: str | None = None,
    dereference: bool = False,
    compression: str | None = "gzip",
) -> dict[str, Any]:
    """Make a tar archive of ``path`` (names relative to its parent)."""
    source = _existing(sandbox, path, follow=True)
    target = _destination(sandbox, target_path)
    mode = COMPRESSION_MODES[normalize_compression(compression)]
    if dereference:
        _check_links_inside(sandbox, source)
    pattern = re.compile(match_pattern) if match_pattern else None

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if pattern is None or info.isdir() or pattern.search(info.name):
            return info
        return None

    with tarfile.open(target, f"w:{mode}", dereference=dereference) as archive:  # type: ignore[call-overload]
        archive.add(source, arcname=source.name, filter=keep)
    return {"path": str(target)}


def extract(
    sandbox: Sandbox, path: str, target_path: str, compression: str | None = "gzip"
) -> dict[str, Any]:
    """Unpack a tar archive into ``target_path``, refusing members that escape it."""
    source = _existing(sandbox, path)
    target = _resolve(sandbox, target_path)
    mode = COMPRESSION_MODES[normalize_compression(compression)]
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(source, f"r:{mode}") as archive:  # type: ignore[call-overload]
            archive.extractall(target, filter="data")
    except (tarfile.TarError, EOFError) as exc:
        raise TaskFailure(f"cannot extract {path}: {exc}") from exc
    return {"path": str(target)}


def chmod(sandbox: Sandbox, path: str, mode: str) -> dict[str, Any]:
    """Change permissions from an octal string like ``"755"``."""
    target = _existing(sandbox, path)
    try:
        bits = int(mode, 8)
    except ValueError as exc:
        raise TaskFailure(f"invalid mode {mode!r}") from exc
    target.chmod(bits)
    return {"path": str(target), "mode": mode}


def chown(sandbox: Sandbox, path: str, owner: str = "", group: str = "") -> dict[str, Any]:
    """Change owner/group (by name or number); permission errors fail the task."""
    target = _existing(sandbox, path, follow=False)
    try:
        uid = -1 if not owner else (int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid)
        gid = -1 if not group else (int(group) if group.isdigit() else grp.getgrnam(group).gr_gid)
    except KeyError as exc:
        raise TaskFailure(f"unknown user or group: {exc}") from exc
    os.chown(target, uid, gid, follow_symlinks=False)
    return {"path": str(target)}


def rm(sandbox: Sandbox, path: str) -> dict[str, Any]:
    """Remove a file, link or directory tree."""
    target = _existing(sandbox, path, follow=False)
    if target in (sandbox.root, sandbox.home) or not sandbox.contains(target.parent):
        raise TaskFailure("refusing to remove the sandbox root or home")
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink()
    return {"path": str(target)}

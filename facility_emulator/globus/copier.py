"""The copy itself, run in a worker thread: plan a task's steps, then copy file by file.

Files are streamed in chunks (never held whole in memory); after each chunk the thread adds to
``bytes_transferred``, checks the task's stop flag (a cancel, or a restart of the service) and
its deadline, and sleeps when a rate limit is set. Symlinks met while walking a directory are
not followed (Globus's ``recursive_symlinks: ignore``); every path goes through the collection's
confinement checks, and destination files are opened with ``O_NOFOLLOW``.

Sync levels decide whether an existing destination file is skipped: 0 it exists, 1 same size,
2 destination not older than the source (whole seconds), 3 same checksum. ``verify_checksum``
re-reads the destination and compares it with the checksum taken while reading the source (a
mismatch copies the file again, up to three times); ``external_checksum`` must match the source.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from facility_emulator.globus.collections import PathRefused
from facility_emulator.globus.tasks import Step, TaskFault, TransferItem, TransferTask
from facility_emulator.sandbox import Sandbox

CHUNK = 4 * 1024 * 1024
MIN_THROTTLED_CHUNK = 16 * 1024
VERIFY_ATTEMPTS = 3
#: Checksum algorithms a transfer item may name (Globus's names), to hashlib's.
HASH_ALGORITHMS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
DEFAULT_ALGORITHM = "MD5"

RateLimit = Callable[[], float]

_ERRNO_CODES = {
    errno.ENOENT: ("FILE_NOT_FOUND", "file not found"),
    errno.EACCES: ("PERMISSION_DENIED", "permission denied"),
    errno.EPERM: ("PERMISSION_DENIED", "permission denied"),
    errno.ELOOP: ("PERMISSION_DENIED", "permission denied"),
    errno.ENOSPC: ("NO_SPACE_LEFT", "no space left on device"),
    errno.EDQUOT: ("QUOTA_EXCEEDED", "quota exceeded"),
    errno.ENOTDIR: ("NOT_A_DIRECTORY", "not a directory"),
    errno.EISDIR: ("IS_A_DIRECTORY", "is a directory"),
}


class Stopped(Exception):
    """The task's stop flag was raised: leave the copy where it is."""


def _details(task: TransferTask, side: str, path: str, message: str) -> str:
    collection = task.source if side == "source" else task.destination
    return (
        f"Error ({'transfer' if side == 'source' else 'write'})\n"
        f"Endpoint: {collection.display_name} ({collection.id})\nFile: {path}\nMessage: {message}"
    )


def fault_of(exc: OSError, task: TransferTask, side: str, path: str) -> TaskFault:
    """The fatal event an operating system error stands for."""
    code, description = _ERRNO_CODES.get(exc.errno or 0, ("UNKNOWN", "unknown error"))
    return TaskFault(code, description, _details(task, side, path, exc.strerror or str(exc)))


def _check(task: TransferTask) -> None:
    if task.stop.is_set():
        raise Stopped
    if datetime.now(UTC) >= task.options.deadline:
        raise TaskFault("EXPIRED", "expired", "the task did not complete before its deadline")


def run_task(task: TransferTask, sandbox: Sandbox, rate: RateLimit) -> None:
    """Plan the task on its first run, then do its remaining steps (raises TaskFault or Stopped)."""
    if task.plan is None:
        try:
            steps = plan_task(task, sandbox)
        except OSError as exc:
            raise fault_of(exc, task, "source", str(exc.filename or "")) from None
        with task.lock:
            task.plan = steps
    assert task.plan is not None
    while task.next_step < len(task.plan):
        _check(task)
        step = task.plan[task.next_step]
        try:
            if step.kind == "dir":
                _make_dir(task, step, sandbox)
            else:
                _copy_step(task, step, sandbox, rate)
        except OSError as exc:
            raise fault_of(exc, task, "destination", step.destination_path) from None
        task.add(steps_done=1)
        task.next_step += 1


# -- planning ------------------------------------------------------------------------------


def _source_error(task: TransferTask, fault: TaskFault) -> None:
    """Skip the path when the task skips source errors, else fail the task."""
    if not task.options.skip_source_errors:
        raise fault
    task.event(fault.code, fault.description, fault.details, error=True)
    task.add(skipped_errors=1)


def plan_task(task: TransferTask, sandbox: Sandbox) -> list[Step]:
    """Every directory to make and file to copy, in order."""
    steps: list[Step] = []
    for item in task.items:
        try:
            source = task.source.host_path(sandbox, item.source_path)
        except PathRefused as exc:
            details = _details(task, "source", item.source_path, str(exc))
            _source_error(task, TaskFault("PERMISSION_DENIED", "permission denied", details))
            continue
        if not source.exists():
            details = _details(task, "source", item.source_path, "No such file or directory")
            _source_error(task, TaskFault("FILE_NOT_FOUND", "file not found", details))
            continue
        if item.recursive:
            if not source.is_dir():
                details = _details(task, "source", item.source_path, "recursive item is not a directory")
                raise TaskFault("NOT_A_DIRECTORY", "not a directory", details)
            steps += _walk(task, source, item)
        else:
            if source.is_dir():
                details = _details(task, "source", item.source_path, "use recursive for a directory")
                raise TaskFault("IS_A_DIRECTORY", "is a directory", details)
            size = source.stat().st_size
            steps.append(Step("file", item.source_path, item.destination_path, source, size, item))
    task.add(
        files=sum(1 for s in steps if s.kind == "file"), directories=sum(1 for s in steps if s.kind == "dir")
    )
    return steps


def _join(base: str, relative: str) -> str:
    return base if relative == "." else posixpath.join(base.rstrip("/") or "/", relative)


def _walk(task: TransferTask, top: Path, item: TransferItem) -> list[Step]:
    steps: list[Step] = []

    def refuse(exc: OSError) -> None:
        raise fault_of(exc, task, "source", item.source_path)

    for dirpath, dirnames, filenames in os.walk(top, onerror=refuse, followlinks=False):
        here = Path(dirpath)
        relative = here.relative_to(top).as_posix()
        steps.append(
            Step("dir", _join(item.source_path, relative), _join(item.destination_path, relative), here)
        )
        links = [name for name in dirnames if (here / name).is_symlink()]
        for name in links:
            dirnames.remove(name)
        dirnames.sort()
        symlinks = len(links)
        for name in sorted(filenames):
            path = here / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                symlinks += 1
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            rel = name if relative == "." else f"{relative}/{name}"
            steps.append(
                Step(
                    "file",
                    _join(item.source_path, rel),
                    _join(item.destination_path, rel),
                    path,
                    info.st_size,
                    item,
                )
            )
        task.add(symlinks=symlinks)
    return steps


# -- steps ---------------------------------------------------------------------------------


def _destination(task: TransferTask, sandbox: Sandbox, path: str) -> Path:
    try:
        return task.destination.write_path(sandbox, path)
    except PathRefused as exc:
        details = _details(task, "destination", path, str(exc))
        raise TaskFault("PERMISSION_DENIED", "permission denied", details) from None


def _make_dir(task: TransferTask, step: Step, sandbox: Sandbox) -> None:
    target = _destination(task, sandbox, step.destination_path)
    if target.exists() and not target.is_dir():
        details = _details(task, "destination", step.destination_path, "exists and is not a directory")
        raise TaskFault("NOT_A_DIRECTORY", "not a directory", details)
    target.mkdir(parents=True, exist_ok=True)


def _algorithm(item: TransferItem | None) -> str:
    name = (item.checksum_algorithm if item is not None else None) or DEFAULT_ALGORITHM
    return HASH_ALGORITHMS[name.upper()]


def _digest(task: TransferTask, path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            _check(task)
            hasher.update(chunk)
            task.add(bytes_checksummed=len(chunk))
    return hasher.hexdigest()


def _in_sync(task: TransferTask, source: Path, target: Path, algorithm: str) -> bool:
    """Whether the sync level lets an existing destination file stand."""
    level = task.options.sync_level
    if level is None or not target.is_file():
        return False
    if level == 0:
        return True
    src, dst = source.stat(), target.stat()
    if level == 1:
        return src.st_size == dst.st_size
    if level == 2:
        return int(dst.st_mtime) >= int(src.st_mtime)
    return src.st_size == dst.st_size and _digest(task, source, algorithm) == _digest(task, target, algorithm)


def _copy_step(task: TransferTask, step: Step, sandbox: Sandbox, rate: RateLimit) -> None:
    assert step.source is not None
    target = _destination(task, sandbox, step.destination_path)
    algorithm = _algorithm(step.item)
    try:
        source_info = step.source.stat()
    except OSError as exc:
        raise fault_of(exc, task, "source", step.source_path) from None
    if _in_sync(task, step.source, target, algorithm):
        task.add(files_skipped=1)
        return
    expected = step.item.external_checksum.lower() if step.item and step.item.external_checksum else None
    for _attempt in range(VERIFY_ATTEMPTS):
        digest = _copy_file(task, step, target, algorithm, rate)
        if expected is not None and digest != expected:
            details = _details(task, "source", step.source_path, f"checksum {digest} is not {expected}")
            raise TaskFault("EXTERNAL_CHECKSUM_MISMATCH", "external checksum mismatch", details)
        if not task.options.verify_checksum or _digest(task, target, algorithm) == digest:
            break
        details = _details(task, "destination", step.destination_path, "checksums differ; copying again")
        task.event("VERIFY_CHECKSUM", "checksum verification failed", details, error=True)
    else:
        details = _details(task, "destination", step.destination_path, "checksums still differ")
        raise TaskFault("VERIFY_CHECKSUM", "checksum verification failed", details)
    if task.options.preserve_timestamp:
        os.utime(target, ns=(source_info.st_atime_ns, source_info.st_mtime_ns), follow_symlinks=False)
    with task.lock:
        task.files_transferred += 1
        task.successful.append((step.source_path, step.destination_path))


def _copy_file(task: TransferTask, step: Step, target: Path, algorithm: str, rate: RateLimit) -> str | None:
    """Stream the source to the target; returns the source's checksum when one is needed."""
    assert step.source is not None
    wants_digest = task.options.verify_checksum or (step.item is not None and step.item.external_checksum)
    hasher = hashlib.new(algorithm) if wants_digest else None
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(target, flags, 0o644)
    try:
        reader_file = step.source.open("rb")
    except OSError as exc:
        os.close(descriptor)
        raise fault_of(exc, task, "source", step.source_path) from None
    with reader_file as reader, os.fdopen(descriptor, "wb") as writer:
        while True:
            limit = rate()
            size = CHUNK if limit <= 0 else max(MIN_THROTTLED_CHUNK, min(CHUNK, int(limit / 10)))
            chunk = reader.read(size)
            if not chunk:
                break
            _check(task)
            writer.write(chunk)
            if hasher is not None:
                hasher.update(chunk)
            task.add(bytes_transferred=len(chunk))
            if limit > 0 and task.stop.wait(len(chunk) / limit):
                raise Stopped
    return hasher.hexdigest() if hasher is not None else None

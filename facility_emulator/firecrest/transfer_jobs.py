"""The transfer jobs' names and shell bodies, as the spec-mode emulator writes them and as the
FirecREST v2 server does (reference mode).

Spec mode: jobs named ``IO-<operation>`` whose body runs under ``set -e``, so a failed command
fails the job (FAILED, its exit code), and prints ``Files were successfully <done>.`` otherwise.

Reference mode follows the server's job templates (``filesystem/transfer/scripts/job_*.sh`` and
``lib/datatransfers/scripts/job_s3_*.sh``): jobs named ``CopyFiles``, ``MoveFiles``,
``DeleteFiles``, ``CompressFiles`` (extract too), ``IngressFileTransfer`` (a staged upload) and
``OutgressFileTransfer`` (a staged download). A failed ``cp``, ``mv``, ``rm`` or ``tar`` writes its
error and ``Unable to ...`` to the error log, but the job still ends COMPLETED with exit code 0:
the templates end with ``exit $?`` after an ``echo``, whose status is 0. Only the output log tells
success (``Files were successfully copied.``, ``... deleted.``; ``File was successfully
downloaded`` for a staged upload, ``Multipart file upload successfully completed`` for a staged
download). ``extract`` runs ``tar -C target`` without creating the target.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

#: How the output of ``tar`` names the compression.
TAR_FLAGS = {"none": "", "gzip": "z", "bzip2": "j", "xz": "J"}


@dataclass(frozen=True)
class JobScript:
    """A transfer job: its name on the scheduler and the body of its batch script."""

    name: str
    body: str


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def _as_the_server_does(command: str, done: str, failed: str) -> str:
    """``command``, reporting as the server's templates do: the success line on the output log,
    the ``Unable to ...`` line on the error log, and exit status 0 either way."""
    return (
        f"if out=$({command}); then\n"
        f'  echo "$(date -u) Files were successfully {done}."\n'
        "else\n"
        f'  echo "$(date -u) Unable to {failed} files exit code:1 error: $out" >&2\n'
        "fi\n"
        "exit 0"
    )


def copy(source: Path, target: Path, *, dereference: bool, reference: bool) -> JobScript:
    if reference:
        flag = "L" if dereference else "d"
        command = f"cp --force -R{flag} --preserve=all -- {_q(source)} {_q(target)}"
        return JobScript("CopyFiles", _as_the_server_does(command, "copied", "copy"))
    flag = "-rL" if dereference else "-rP"
    return JobScript("IO-cp", f"cp {flag} {_q(source)} {_q(target)}\necho 'Files were successfully copied.'")


def move(source: Path, target: Path, *, reference: bool) -> JobScript:
    if reference:
        command = f"mv -- {_q(source)} {_q(target)}"
        return JobScript("MoveFiles", _as_the_server_does(command, "moved", "move"))
    return JobScript("IO-mv", f"mv {_q(source)} {_q(target)}\necho 'Files were successfully moved.'")


def remove(path: Path, *, reference: bool) -> JobScript:
    if reference:
        return JobScript("DeleteFiles", _as_the_server_does(f"rm -R -- {_q(path)}", "deleted", "delete"))
    return JobScript("IO-rm", f"rm -rf {_q(path)}\necho 'Files were successfully removed.'")


def compress(
    source: Path, target: Path, compression: str, *, dereference: bool, reference: bool
) -> JobScript:
    flags = TAR_FLAGS.get(compression, "z")
    if reference:
        deref = "--dereference " if dereference else ""
        command = f"tar {deref}-c{flags}vf {_q(target)} -C {_q(source.parent)} {_q(source.name)}"
        return JobScript("CompressFiles", _as_the_server_does(command, "compressed", "compress"))
    deref = "h" if dereference else ""
    return JobScript(
        "IO-compress",
        f"tar -c{flags}{deref}f {_q(target)} -C {_q(source.parent)} {_q(source.name)}\n"
        "echo 'Files were successfully compressed.'",
    )


def extract(source: Path, target: Path, compression: str, *, reference: bool) -> JobScript:
    flags = TAR_FLAGS.get(compression, "z")
    untar = f"tar -x{flags}f {_q(source)} -C {_q(target)} --no-same-owner"
    if reference:
        return JobScript("CompressFiles", _as_the_server_does(untar, "extracted", "extract"))
    return JobScript(
        "IO-extract", f"mkdir -p {_q(target)}\n{untar}\necho 'Files were successfully extracted.'"
    )


def staged_upload(marker: Path, data: Path, target: Path, wait_seconds: int, *, reference: bool) -> JobScript:
    """Wait until the staged object is complete (``marker``), then move it to ``target``."""
    wait = (
        f"for i in $(seq 1 {wait_seconds * 10}); do [ -e {_q(marker)} ] && break; sleep 0.1; done\n"
        f"[ -e {_q(marker)} ] || {{ echo 'the multipart upload was never completed' >&2; exit 1; }}\n"
        f"mv -f {_q(data)} {_q(target)}\n"
    )
    if reference:
        size = f'$(awk -v b="$(stat -c %s {_q(target)})" \'BEGIN {{ printf "%0.3f", b/1024/1024 }}\')'
        return JobScript(
            "IngressFileTransfer",
            wait + f'echo "$(date -u) File was successfully downloaded (size: {size}MB)"',
        )
    return JobScript("IO-upload", wait + "echo 'Multipart file upload successfully completed'")


def staged_download(source: Path, partial: Path, data: Path, *, reference: bool) -> JobScript:
    """Copy ``source`` into the staging area (``partial`` first, then ``data``)."""
    copy_in = f"cp {_q(source)} {_q(partial)}\nmv -f {_q(partial)} {_q(data)}\n"
    if reference:
        return JobScript(
            "OutgressFileTransfer", copy_in + 'echo "[INFO] Multipart file upload successfully completed"'
        )
    return JobScript("IO-download", copy_in + "echo 'File was successfully staged for download'")

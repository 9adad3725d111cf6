"""The sandbox holds against escapes through every flavour's real file and job routes.

A directory beside the sandbox root holds a canary file; inside the home, links point at it
(``linkdir`` -> the outside directory, ``linkfile`` -> the canary), a tree holds such a link, and
an archive carries ``..`` members. Each operation below tries to read, write, move, copy,
archive, extract, link or run a job through ``..``, an absolute outside path or one of those
links. Every attempt must be refused in the flavour's error shape (IRI: a 4xx problem or a failed
task naming the sandbox; SF API: ``status: ERROR``; FirecREST: a 4xx ``ApiResponseError``), and
afterwards the outside directory must be exactly as it was: same entries, bytes and modes.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from facility_emulator import EmulatorServer

from .emu_helpers import wait_for, wait_task

CANARY = b"canary: must never be read, changed or moved by the emulator\n"


@dataclass(frozen=True)
class Layout:
    """The outside directory and the traps laid inside the home."""

    outside: Path
    home: Path
    base: Path

    @property
    def canary(self) -> str:
        return str(self.outside / "canary.txt")

    @property
    def dotdot(self) -> str:
        """The canary reached lexically from the home with ``..`` components."""
        return str(self.home) + "/" + "../" * len(self.home.parts) + str(self.outside / "canary.txt")[1:]

    @property
    def linkfile(self) -> str:
        return str(self.base / "linkfile")

    @property
    def linkdir(self) -> str:
        return str(self.base / "linkdir")

    @property
    def via_linkdir(self) -> str:
        return str(self.base / "linkdir" / "canary.txt")

    @property
    def inside(self) -> str:
        return str(self.base / "inside.txt")

    @property
    def tree(self) -> str:
        return str(self.base / "tree")

    @property
    def archive(self) -> str:
        return str(self.base / "evil.tar.gz")


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under ``root`` (and root itself): mode and content or link target."""
    seen: dict[str, tuple[int, bytes]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            data = os.readlink(path).encode()
        elif stat.S_ISREG(info.st_mode):
            data = path.read_bytes()
        else:
            data = b""
        seen[str(path.relative_to(root))] = (info.st_mode, data)
    return seen


def _evil_archive() -> bytes:
    """A gzip tar whose members climb out with ``..`` and through a link to an absolute path."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        climb = tarfile.TarInfo("../../../../../../../../tmp/escaped-by-tar.txt")
        climb.size = 4
        archive.addfile(climb, io.BytesIO(b"pwn\n"))
        link = tarfile.TarInfo("outlink")
        link.type = tarfile.SYMTYPE
        link.linkname = "/"
        archive.addfile(link)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def layout(server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Layout:
    outside = tmp_path_factory.mktemp("outside-the-sandbox")
    assert not server.state.sandbox.contains(outside.resolve())
    (outside / "canary.txt").write_bytes(CANARY)
    (outside / "canary.txt").chmod(0o644)
    (outside / "sub").mkdir()
    home = Path(server.credentials["home"])
    base = home / f"escapes-{uuid.uuid4().hex[:6]}"
    (base / "tree").mkdir(parents=True)
    (base / "inside.txt").write_text("inside\n")
    (base / "linkfile").symlink_to(outside / "canary.txt")
    (base / "linkdir").symlink_to(outside)
    (base / "tree" / "evil").symlink_to(outside / "canary.txt")
    (base / "evil.tar.gz").write_bytes(_evil_archive())
    return Layout(outside.resolve(), home, base)


@pytest.fixture
def untouched(layout: Layout) -> Iterator[None]:
    """Assert after the test that nothing outside the sandbox changed."""
    before = _snapshot(layout.outside)
    escaped = Path("/tmp/escaped-by-tar.txt")
    existed = escaped.exists()
    yield
    assert _snapshot(layout.outside) == before
    assert escaped.exists() == existed


# -- IRI v1 and v2 ----------------------------------------------------------------------------

# (operation, v1 method, arguments); paths are Layout attribute names, resolved per test.
IRI_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("view", "GET", {"path": "dotdot"}),
    ("view", "GET", {"path": "canary"}),
    ("view", "GET", {"path": "linkfile"}),
    ("head", "GET", {"path": "via_linkdir"}),
    ("tail", "GET", {"path": "linkfile"}),
    ("checksum", "GET", {"path": "linkfile"}),
    ("download", "GET", {"path": "via_linkdir"}),
    ("download", "GET", {"path": "dotdot"}),
    ("ls", "GET", {"path": "linkdir"}),
    ("ls", "GET", {"path": "canary"}),
    ("stat", "GET", {"path": "linkfile", "dereference": "true"}),
    ("rm", "DELETE", {"path": "via_linkdir"}),
    ("rm", "DELETE", {"path": "canary"}),
    ("chmod", "PUT", {"path": "linkfile", "mode": "777"}),
    ("chmod", "PUT", {"path": "dotdot", "mode": "777"}),
    ("chown", "PUT", {"path": "via_linkdir", "owner": str(os.getuid())}),
    ("mkdir", "POST", {"path": "linkdir/newdir"}),
    ("mv", "POST", {"path": "canary", "target_path": "inside"}),
    ("mv", "POST", {"path": "inside", "target_path": "linkdir"}),
    ("mv", "POST", {"path": "inside", "target_path": "linkfile"}),
    ("cp", "POST", {"path": "linkfile", "target_path": "base/copied.txt"}),
    ("cp", "POST", {"path": "inside", "target_path": "linkdir"}),
    ("cp", "POST", {"path": "inside", "target_path": "linkfile"}),
    ("cp", "POST", {"path": "tree", "target_path": "base/tree-copy", "dereference": True}),
    ("compress", "POST", {"path": "inside", "target_path": "linkfile"}),
    ("compress", "POST", {"path": "inside", "target_path": "linkdir/out.tar.gz"}),
    ("compress", "POST", {"path": "tree", "target_path": "base/t.tar.gz", "dereference": True}),
    ("extract", "POST", {"path": "archive", "target_path": "base/unpacked"}),
    ("extract", "POST", {"path": "archive", "target_path": "linkdir"}),
    ("symlink", "POST", {"path": "canary", "link_path": "base/newlink"}),
    ("symlink", "POST", {"path": "inside", "link_path": "linkdir/newlink"}),
]


def _place(layout: Layout, value: Any) -> Any:
    """Replace a Layout attribute name (optionally ``name/more``) by its path."""
    if not isinstance(value, str):
        return value
    head, _, rest = value.partition("/")
    if head == "base":
        return str(layout.base / rest)
    if hasattr(layout, head) and head not in ("outside", "home"):
        path = str(getattr(layout, head))
        return f"{path}/{rest}" if rest else path
    return value


def _iri_refused(answer: httpx.Response, client: httpx.Client) -> str:
    """The refusal's text: a 4xx problem document, or the failed task's error."""
    if 400 <= answer.status_code < 500:
        assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
        return str(answer.json()["detail"])
    assert answer.status_code in (200, 201), answer.text
    task = wait_task(client, answer.json()["task_id"])
    assert task["status"] == "failed", task
    return str(task["result"]["error"])


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(
    ("op", "method", "args"), IRI_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(IRI_CASES)]
)
def test_iri_filesystem_refuses_escapes(
    server: EmulatorServer,
    token: str,
    layout: Layout,
    version: str,
    op: str,
    method: str,
    args: dict[str, Any],
) -> None:
    values = {key: _place(layout, value) for key, value in args.items()}
    with httpx.Client(
        base_url=server.iri_url(version), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        url = f"/filesystem/{op}/eagle"
        if version == "v1" and method in ("GET", "DELETE"):
            answer = client.request(
                method,
                url,
                params={k: str(v).lower() if isinstance(v, bool) else v for k, v in values.items()},
            )
        else:
            answer = client.request("POST" if version == "v2" else method, url, json=values)
        error = _iri_refused(answer, client)
    assert "sandbox" in error or "outside" in error, error


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("where", ["canary", "via_linkdir", "linkfile", "linkdir"])
def test_iri_upload_refuses_escapes(
    server: EmulatorServer, token: str, layout: Layout, version: str, where: str
) -> None:
    with httpx.Client(
        base_url=server.iri_url(version), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        answer = client.post(
            "/filesystem/upload/eagle",
            params={"path": _place(layout, where)},
            files={"file": ("canary.txt", b"overwritten\n")},
        )
        error = _iri_refused(answer, client)
    assert "sandbox" in error or "outside" in error, error


IRI_JOB_CASES = [
    {"directory": "linkdir"},
    {"directory": "dotdot-dir"},
    {"stdout_path": "via_linkdir"},
    {"stdout_path": "linkfile"},
    {"stderr_path": "canary"},
    {"stdin_path": "linkfile"},
]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("paths", IRI_JOB_CASES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_iri_job_paths_outside_are_refused(
    server: EmulatorServer, token: str, layout: Layout, paths: dict[str, str]
) -> None:
    placed = {
        key: (str(layout.home) + "/" + "../" * len(layout.home.parts) + str(layout.outside)[1:])
        if value == "dotdot-dir"
        else _place(layout, value)
        for key, value in paths.items()
    }
    spec = {"executable": "/bin/sh", "arguments": ["-c", "echo hi; cat"], "name": "escape", **placed}
    answer = httpx.post(
        f"{server.iri_url('v1')}/compute/job/polaris",
        json=spec,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "sandbox" in answer.json()["detail"]


# -- NERSC SF API -------------------------------------------------------------------------------


@pytest.fixture
def sfapi(server: EmulatorServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.api_url("sfapi"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def _sfapi_error(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ERROR", body
    return str(body["error"])


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("where", ["canary", "dotdot", "linkfile", "via_linkdir", "linkdir"])
def test_sfapi_utilities_refuse_escapes(sfapi: httpx.Client, layout: Layout, where: str) -> None:
    path = _place(layout, where)
    for route in ("ls", "download"):
        if route == "ls" and where in ("linkfile",):
            continue  # listing a link describes the link itself, as ls -l does
        error = _sfapi_error(sfapi.get(f"/utilities/{route}/perlmutter/{path}"))
        assert "sandbox" in error, error
    upload = sfapi.put(f"/utilities/upload/perlmutter/{path}", files={"file": ("x.txt", b"overwritten\n")})
    assert "sandbox" in _sfapi_error(upload)


SBATCH_CASES = {
    "chdir": "#SBATCH -D {outside}\n",
    "output": "#SBATCH --output={outside}/sub/out.txt\n",
    "error-via-link": "#SBATCH --error={linkdir}/err.txt\n",
    "output-link": "#SBATCH --output={linkfile}\n",
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("directive", list(SBATCH_CASES), ids=list(SBATCH_CASES))
def test_sfapi_job_paths_outside_are_refused(sfapi: httpx.Client, layout: Layout, directive: str) -> None:
    line = SBATCH_CASES[directive].format(
        outside=layout.outside, linkdir=layout.linkdir, linkfile=layout.linkfile
    )
    script = f"#!/bin/bash\n#SBATCH -N 1\n{line}echo hi\n"
    answer = sfapi.post("/compute/jobs/perlmutter", data={"job": script, "isPath": "false"})
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["task_id"]

    def done() -> Any:
        task = sfapi.get(f"/tasks/{task_id}").json()
        return task if task["status"] in ("completed", "failed") else None

    task = wait_for(done)
    result = json.loads(task["result"])
    assert result["status"] == "error" and "sandbox" in result["error"], result


@pytest.mark.usefixtures("untouched")
def test_sfapi_script_path_outside_is_refused(sfapi: httpx.Client, layout: Layout) -> None:
    answer = sfapi.post("/compute/jobs/perlmutter", data={"job": layout.linkfile, "isPath": "true"})
    assert "sandbox" in _sfapi_error(answer)


# -- CSCS FirecREST v2 --------------------------------------------------------------------------


@pytest.fixture
def f7t(server: EmulatorServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.api_url("firecrest"), headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def _f7t_refused(answer: httpx.Response) -> str:
    assert 400 <= answer.status_code < 500, answer.text
    body = answer.json()
    assert body["errorType"] in ("error", "validation") and body["message"], body
    return str(body["message"])


OPS = "/filesystem/daint/ops"
XFER = "/filesystem/daint/transfer"

F7T_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", f"{OPS}/ls", {"path": "linkdir"}),
    ("GET", f"{OPS}/ls", {"path": "dotdot"}),
    ("GET", f"{OPS}/head", {"path": "linkfile"}),
    ("GET", f"{OPS}/tail", {"path": "via_linkdir"}),
    ("GET", f"{OPS}/view", {"path": "linkfile"}),
    ("GET", f"{OPS}/checksum", {"path": "via_linkdir"}),
    ("GET", f"{OPS}/download", {"path": "linkfile"}),
    ("GET", f"{OPS}/download", {"path": "canary"}),
    ("GET", f"{OPS}/stat", {"path": "linkfile", "dereference": "true"}),
    ("DELETE", f"{OPS}/rm", {"path": "via_linkdir"}),
    ("PUT", f"{OPS}/chmod", {"path": "linkfile", "mode": "777"}),
    ("PUT", f"{OPS}/chown", {"path": "via_linkdir", "owner": str(os.getuid())}),
    ("POST", f"{OPS}/mkdir", {"path": "linkdir/newdir"}),
    ("POST", f"{OPS}/symlink", {"path": "canary", "linkPath": "base/newlink"}),
    ("POST", f"{OPS}/symlink", {"path": "inside", "linkPath": "linkdir/newlink"}),
    ("POST", f"{OPS}/compress", {"path": "inside", "targetPath": "linkfile"}),
    ("POST", f"{OPS}/compress", {"path": "tree", "targetPath": "base/t2.tar.gz", "dereference": True}),
    ("POST", f"{OPS}/extract", {"path": "archive", "targetPath": "linkdir"}),
    ("POST", f"{OPS}/extract", {"path": "archive", "targetPath": "base/unpacked-f7t"}),
    ("POST", f"{XFER}/cp", {"sourcePath": "inside", "targetPath": "linkdir"}),
    ("POST", f"{XFER}/cp", {"sourcePath": "inside", "targetPath": "linkfile"}),
    ("POST", f"{XFER}/cp", {"sourcePath": "tree", "targetPath": "base/tree-x", "dereference": True}),
    ("POST", f"{XFER}/cp", {"sourcePath": "canary", "targetPath": "base/stolen.txt"}),
    ("POST", f"{XFER}/mv", {"sourcePath": "inside", "targetPath": "linkdir"}),
    ("POST", f"{XFER}/mv", {"sourcePath": "via_linkdir", "targetPath": "base/stolen.txt"}),
    ("POST", f"{XFER}/compress", {"sourcePath": "inside", "targetPath": "linkfile"}),
    ("POST", f"{XFER}/compress", {"sourcePath": "tree", "targetPath": "base/t3.tar.gz", "dereference": True}),
    ("POST", f"{XFER}/extract", {"sourcePath": "archive", "targetPath": "linkdir"}),
    ("DELETE", f"{XFER}/rm", {"path": "via_linkdir"}),
    ("POST", f"{XFER}/upload", {"path": "via_linkdir", "fileName": "x", "fileSize": 4}),
    ("POST", f"{XFER}/download", {"path": "linkfile"}),
]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    ("method", "url", "args"),
    F7T_CASES,
    ids=[f"{c[1].rsplit('/', 2)[-2]}-{c[1].rsplit('/', 1)[-1]}-{i}" for i, c in enumerate(F7T_CASES)],
)
def test_firecrest_refuses_escapes(
    f7t: httpx.Client, layout: Layout, method: str, url: str, args: dict[str, Any]
) -> None:
    values = {key: _place(layout, value) for key, value in args.items()}
    if method in ("GET", "DELETE"):
        answer = f7t.request(method, url, params=values)
    elif url.endswith(("/chmod", "/chown", "/symlink", "/mkdir", "/compress", "/extract")) and url.startswith(
        OPS
    ):
        body = {("sourcePath" if k == "path" else k): v for k, v in values.items()}
        answer = f7t.request(method, url, json=body)
    else:
        answer = f7t.request(method, url, json=values)
    message = _f7t_refused(answer)
    assert "sandbox" in message or "outside" in message, message


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("where", ["linkdir", "canary"])
def test_firecrest_upload_refuses_escapes(f7t: httpx.Client, layout: Layout, where: str) -> None:
    answer = f7t.post(
        f"{OPS}/upload",
        params={"path": _place(layout, where)},
        files={"file": ("canary.txt", b"overwritten\n")},
    )
    assert "sandbox" in _f7t_refused(answer)


F7T_JOB_CASES = [
    {"workingDirectory": "linkdir"},
    {"workingDirectory": "outside"},
    {"standardOutput": "via_linkdir"},
    {"standardOutput": "linkfile"},
    {"standardError": "canary"},
    {"scriptPath": "linkfile"},
]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("paths", F7T_JOB_CASES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_firecrest_job_paths_outside_are_refused(
    f7t: httpx.Client, layout: Layout, paths: dict[str, str]
) -> None:
    job: dict[str, Any] = {"workingDirectory": str(layout.base), "script": "#!/bin/bash\necho hi\n"}
    for key, value in paths.items():
        job[key] = str(layout.outside) if value == "outside" else _place(layout, value)
    if "scriptPath" in job:
        del job["script"]
    answer = f7t.post("/compute/daint/jobs", json={"job": job})
    assert "sandbox" in _f7t_refused(answer)


def test_links_inside_the_sandbox_still_work(f7t: httpx.Client, layout: Layout) -> None:
    """The checks refuse escapes only: a link to a file inside stays usable as a copy target."""
    link = layout.base / "inner-link"
    if not link.is_symlink():
        link.symlink_to(layout.base / "inner-target.txt")
    (layout.base / "inner-target.txt").write_text("old\n")
    answer = f7t.post(f"{OPS}/compress", json={"sourcePath": layout.inside, "targetPath": str(link)})
    assert answer.status_code == 204, answer.text
    assert tarfile.is_tarfile(layout.base / "inner-target.txt")


@pytest.mark.usefixtures("untouched")
def test_firecrest_extract_job_keeps_climbing_members_inside(f7t: httpx.Client, layout: Layout) -> None:
    """The server-side extract (GNU tar in a job) skips ``..`` members; its links stay links."""
    target = layout.base / "unpacked-by-job"
    answer = f7t.post(f"{XFER}/extract", json={"sourcePath": layout.archive, "targetPath": str(target)})
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["transferJob"]["jobId"]

    def ended() -> Any:
        jobs = f7t.get(f"/compute/daint/jobs/{job_id}").json()["jobs"]
        return jobs[0]["status"]["state"] in ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED")

    wait_for(ended, timeout=30)
    assert sorted(path.name for path in target.iterdir()) == ["outlink"]
    assert f7t.get(f"{OPS}/ls", params={"path": str(target / "outlink" / "etc")}).status_code == 403

"""Filesystem operations act on the sandbox through tasks; escapes are refused."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx

from facility_emulator import EmulatorServer

from .emu_helpers import wait_task


def _run(client: httpx.Client, method: str, op: str, **kwargs: object) -> dict[str, object]:
    resp = client.request(method, f"/filesystem/{op}/eagle", **kwargs)  # type: ignore[arg-type]
    assert resp.status_code in (200, 201), resp.text
    body = resp.json()
    assert body["task_uri"].endswith(f"/task/{body['task_id']}")
    return wait_task(client, body["task_id"])


def test_upload_download_roundtrip_binary(client: httpx.Client, server: EmulatorServer) -> None:
    home = server.credentials["home"]
    payload = bytes(range(256)) * 40
    task = _run(
        client, "POST", "upload", params={"path": f"{home}/blob.bin"}, files={"file": ("blob.bin", payload)}
    )
    assert task["status"] == "completed"
    assert Path(home, "blob.bin").read_bytes() == payload
    down = _run(client, "GET", "download", params={"path": f"{home}/blob.bin"})
    output = down["result"]["output"]  # type: ignore[index]
    assert base64.b64decode(output["content"]) == payload
    digest = _run(client, "GET", "checksum", params={"path": f"{home}/blob.bin"})
    assert len(digest["result"]["output"]["checksum"]) == 64  # type: ignore[index]


def test_ls_head_tail_view_stat(client: httpx.Client, server: EmulatorServer) -> None:
    home = Path(server.credentials["home"])
    work = home / "fsdir"
    work.mkdir(exist_ok=True)
    (work / "lines.txt").write_text("".join(f"line{i}\n" for i in range(20)))
    (work / ".hidden").write_text("h")
    listing = _run(client, "GET", "ls", params={"path": str(work)})["result"]["output"]  # type: ignore[index]
    assert [e["name"] for e in listing] == ["lines.txt"]
    entry = listing[0]
    assert set(entry) == {
        "name",
        "type",
        "link_target",
        "user",
        "group",
        "permissions",
        "last_modified",
        "size",
    }
    assert entry["type"] == "-" and entry["size"] == str((work / "lines.txt").stat().st_size)
    head = _run(client, "GET", "head", params={"path": str(work / "lines.txt"), "lines": 2})["result"][
        "output"
    ]  # type: ignore[index]
    assert head["content"] == "line0\nline1\n" and head["content_type"] == "lines"
    tail = _run(client, "GET", "tail", params={"path": str(work / "lines.txt"), "bytes": 7})["result"][
        "output"
    ]  # type: ignore[index]
    assert tail["content"] == "line19\n"
    view = _run(client, "GET", "view", params={"path": str(work / "lines.txt"), "offset": 6, "size": 6})[
        "result"
    ]["output"]  # type: ignore[index]
    assert view == {"content": "line1\n", "content_type": "bytes", "start_position": 6, "end_position": 12}
    stat = _run(client, "GET", "stat", params={"path": str(work / "lines.txt")})["result"]["output"]  # type: ignore[index]
    assert stat["size"] == (work / "lines.txt").stat().st_size


def test_mutating_ops(client: httpx.Client, server: EmulatorServer) -> None:
    home = Path(server.credentials["home"])
    base = home / "mut"
    assert (
        _run(client, "POST", "mkdir", json={"path": str(base / "a" / "b"), "parent": True})["status"]
        == "completed"
    )
    (base / "a" / "b" / "f.txt").write_text("data")
    assert (
        _run(client, "POST", "cp", json={"path": str(base / "a"), "target_path": str(base / "c")})["status"]
        == "completed"
    )
    assert (base / "c" / "b" / "f.txt").read_text() == "data"
    assert (
        _run(client, "POST", "mv", json={"path": str(base / "c"), "target_path": str(base / "d")})["status"]
        == "completed"
    )
    assert (
        _run(client, "POST", "symlink", json={"path": str(base / "d"), "link_path": str(base / "link")})[
            "status"
        ]
        == "completed"
    )
    assert os.readlink(base / "link") == str(base / "d")
    assert (
        _run(client, "PUT", "chmod", json={"path": str(base / "d" / "b" / "f.txt"), "mode": "600"})["status"]
        == "completed"
    )
    assert (base / "d" / "b" / "f.txt").stat().st_mode & 0o777 == 0o600
    arch = _run(
        client, "POST", "compress", json={"path": str(base / "a"), "target_path": str(base / "a.tar.gz")}
    )
    assert arch["status"] == "completed"
    out = _run(
        client, "POST", "extract", json={"path": str(base / "a.tar.gz"), "target_path": str(base / "x")}
    )
    assert out["status"] == "completed" and (base / "x" / "a" / "b" / "f.txt").read_text() == "data"
    assert _run(client, "DELETE", "rm", params={"path": str(base)})["status"] == "completed"
    assert not base.exists()
    assert _run(client, "GET", "file", params={"path": str(home)})["result"]["output"] == "directory"  # type: ignore[index]


def test_missing_path_fails_task(client: httpx.Client, server: EmulatorServer) -> None:
    task = _run(client, "GET", "ls", params={"path": server.credentials["home"] + "/does-not-exist"})
    assert task["status"] == "failed"
    assert "no such file" in task["result"]["error"]  # type: ignore[index]


def test_escapes_refused(client: httpx.Client, server: EmulatorServer) -> None:
    home = Path(server.credentials["home"])
    dotdot = _run(client, "GET", "view", params={"path": f"{home}/../../../../etc/passwd"})
    assert dotdot["status"] == "failed" and "outside the sandbox" in dotdot["result"]["error"]  # type: ignore[index]
    link = home / "escape"
    if not link.is_symlink():
        link.symlink_to("/etc")
    via_link = _run(client, "GET", "download", params={"path": f"{link}/passwd"})
    assert via_link["status"] == "failed" and "outside the sandbox" in via_link["result"]["error"]  # type: ignore[index]
    absolute = _run(client, "GET", "ls", params={"path": "/etc"})
    assert absolute["status"] == "failed"


def test_tasks_list_and_delete(client: httpx.Client, server: EmulatorServer) -> None:
    task = _run(client, "GET", "stat", params={"path": server.credentials["home"]})
    assert any(t["id"] == task["id"] for t in client.get("/task").json())
    assert client.delete(f"/task/{task['id']}").status_code == 200
    assert client.get(f"/task/{task['id']}").status_code == 404


def test_v2_filesystem_is_post_json(client_v2: httpx.Client, server: EmulatorServer) -> None:
    home = Path(server.credentials["home"])
    (home / "v2.txt").write_text("abc\n")
    resp = client_v2.post("/filesystem/head/eagle", json={"path": str(home / "v2.txt")})
    assert resp.status_code == 200
    task = wait_task(client_v2, resp.json()["task_id"])
    assert task["result"]["output"]["content"] == "abc\n"
    assert client_v2.get("/filesystem/head/eagle", params={"path": str(home / "v2.txt")}).status_code == 405
    arch = client_v2.post(
        "/filesystem/compress/eagle",
        json={
            "path": str(home / "v2.txt"),
            "target_path": str(home / "v2.tar.xz"),
            "compression": "urn:doe-iri:compression:xz",
        },
    )
    assert wait_task(client_v2, arch.json()["task_id"])["status"] == "completed"

"""The sandbox file system: the only part of the host the emulated facility may touch.

Every user-supplied path goes through :meth:`Sandbox.resolve`, which refuses paths outside the
root, whether they escape lexically (``..``) or through symlinks that resolve outside. Paths an
operation writes to go through :meth:`Sandbox.destination`, which also refuses a final symlink
that points outside (writing through it would land outside), and trees an operation dereferences
go through :meth:`Sandbox.check_tree`.
"""

from __future__ import annotations

import os
from pathlib import Path


class SandboxError(Exception):
    """A path lies outside the sandbox or is otherwise unusable."""


class Sandbox:
    """A directory tree standing in for the facility's file systems."""

    def __init__(self, root: Path, user: str) -> None:
        self.root = Path(root).resolve()
        self.user = user
        self.home = self.root / "home" / user
        self.home.mkdir(parents=True, exist_ok=True)

    def contains(self, path: Path) -> bool:
        """Whether an already resolved ``path`` lies inside the root."""
        return path == self.root or self.root in path.parents

    def resolve(self, raw: str | os.PathLike[str], *, base: Path | None = None, follow: bool = True) -> Path:
        """Turn a client path into a host path inside the sandbox.

        Relative paths are taken relative to ``base`` (default: the home directory). With
        ``follow`` the final component's symlink is resolved too; without it only the parent
        directory is resolved (so ``rm``/``ls -l`` of a link act on the link itself).
        Raises :class:`SandboxError` when the result escapes the root.
        """
        text = os.fspath(raw)
        if not text:
            raise SandboxError("empty path")
        if "\x00" in text:
            raise SandboxError("path contains a NUL byte")
        candidate = Path(text)
        if not candidate.is_absolute():
            candidate = (base or self.home) / candidate
        lexical = Path(os.path.normpath(candidate))
        if not self.contains(lexical):
            raise SandboxError(f"path {text!r} is outside the sandbox root {self.root}")
        if follow:
            resolved = lexical.resolve()
        else:
            resolved = lexical.parent.resolve() / lexical.name if lexical != self.root else self.root
        if not self.contains(resolved):
            raise SandboxError(f"path {text!r} resolves outside the sandbox root {self.root}")
        return resolved

    def destination(self, raw: str | os.PathLike[str], *, base: Path | None = None) -> Path:
        """The path an operation writes to (copy, move or archive target).

        Like ``resolve(raw, follow=False)`` (a target that is a link stays the link, as ``mv``
        replaces it), but a final symlink must itself resolve inside the root: copying into or
        archiving onto a link to an outside directory or file would write outside.
        """
        path = self.resolve(raw, base=base, follow=False)
        if path.is_symlink() and not self.contains(path.resolve()):
            raise SandboxError(f"path {os.fspath(raw)!r} links outside the sandbox root {self.root}")
        return path

    def check_tree(self, path: Path) -> None:
        """Refuse a tree that holds a symlink resolving outside the root.

        Used before an operation dereferences links (``cp -L``, ``tar -h``), which would read
        outside files into the sandbox.
        """
        candidates = [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]
        for item in candidates:
            if item.is_symlink() and not self.contains(item.resolve()):
                raise SandboxError(f"{item} links outside the sandbox root {self.root}")

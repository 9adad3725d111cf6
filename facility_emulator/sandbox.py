"""The sandbox file system: the only part of the host the emulated facility may touch.

Every user-supplied path goes through :meth:`Sandbox.resolve`, which refuses paths outside the
root, whether they escape lexically (``..``) or through symlinks that resolve outside.
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

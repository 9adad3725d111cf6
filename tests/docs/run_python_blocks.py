"""Run one page's Python blocks in order, in one namespace, as a reader would paste them.

Started by ``test_documented_commands.py`` as ``python run_python_blocks.py BLOCKS.json``: the file
holds the blocks (``where``, ``before``, ``code``) and the emulator's description. A block's
``before`` lines (what its page presumes the reader has) run first, in the same namespace. A block's exception ends the
run with exit 1 and a traceback naming the page and line. ``server`` in the namespace stands for
the emulator the test started, in every block that does not start an emulator of its own: the
blocks may read its addresses and credentials, as code that runs beside an ``EmulatorServer``
does.
"""

from __future__ import annotations

import ast
import json
import sys
import traceback
import types
from typing import Any


class EmulatorView:
    """The emulator's addresses and credentials with ``EmulatorServer``'s names (read-only)."""

    def __init__(self, described: dict[str, Any]) -> None:
        self._described = described

    @property
    def url(self) -> str:
        return str(self._described["url"])

    @property
    def credentials(self) -> dict[str, Any]:
        return dict(self._described["credentials"])

    def iri_url(self, version: str = "v1") -> str:
        return str(self._described["iri"][version])

    def api_url(self, flavour: str, label: str | None = None) -> str:
        urls: dict[str, str] = self._described[flavour]
        return urls[label] if label is not None else next(iter(urls.values()))

    def flavour_credentials(self, flavour: str) -> dict[str, Any]:
        return dict(self._described["credentials"].get(flavour) or {})


def _stop_parsl() -> None:
    """Clean up a DataFlowKernel a block left loaded, so the process can end."""
    parsl = sys.modules.get("parsl")
    if parsl is None:
        return
    try:
        kernel = parsl.dfk()
    except Exception:
        return
    kernel.cleanup()


def _record_providers() -> list[Any]:
    """Keep every ``FacilityProvider`` the blocks make (also those not bound to a name)."""
    from parsl_facility import FacilityProvider

    made: list[Any] = []
    init = FacilityProvider.__init__

    def recording(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    FacilityProvider.__init__ = recording  # type: ignore[method-assign]
    return made


def _check_providers(providers: list[Any]) -> None:
    """Build the client of each new provider: a provider makes it only at its first submit, so
    this is where a documented configuration shows that it is complete (auth keys, options,
    credential files). No request is sent."""
    while providers:
        provider = providers.pop()
        if provider.client is None:
            provider._facility_client().close()
            provider.client = None


def _binds_server(tree: ast.AST) -> bool:
    """Whether a block assigns the name ``server`` (``with EmulatorServer() as server``)."""
    return any(
        isinstance(node, ast.Name) and node.id == "server" and isinstance(node.ctx, ast.Store)
        for node in ast.walk(tree)
    )


def main(path: str) -> int:
    with open(path) as handle:
        job = json.load(handle)
    # The blocks run as one script would: in a module of their own named __main__ (Parsl
    # serializes apps defined there by value, and only what they refer to).
    script = types.ModuleType("__main__")
    view = EmulatorView(job["described"])
    sys.modules["__main__"] = script
    namespace = script.__dict__
    providers = _record_providers()
    try:
        for block in job["blocks"]:
            print(f"### {block['where']}", file=sys.stderr, flush=True)
            code = ast.parse(block["code"], block["where"])
            if not _binds_server(code):
                namespace["server"] = view  # a block that starts an emulator of its own names it so
            for line in block.get("before", []):
                exec(compile(line, f"{block['where']} (before)", "exec"), namespace)
            exec(compile(code, block["where"], "exec"), namespace)
            _check_providers(providers)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        _stop_parsl()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

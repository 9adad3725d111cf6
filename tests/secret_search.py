"""What an error could show of a secret: the texts of an exception, its chain and its frames.

Error trackers (Sentry and the like) report an exception with its ``__cause__``/``__context__``
chain and the local variables of every frame of each traceback: strings and containers as they
are, other objects by their ``repr``. :func:`error_texts` renders an error that way, and looks a
little deeper where a credential is known to hide: the attributes of each exception in the chain,
and the headers and body of any ``httpx``/``requests`` request or response met on the way.
:func:`leaks` says which known secrets show in them (labels only, never values).

Frames of the test files themselves are left out: a test holds the secrets it checks for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

TESTS = Path(__file__).resolve().parent
MAX_DEPTH = 4


def _request_text(request: Any, depth: int) -> str:
    parts = [str(getattr(request, "url", ""))]
    headers = getattr(request, "headers", None)
    if headers is not None:
        parts.extend(f"{name}: {value}" for name, value in headers.items())
    for attribute in ("_content", "body", "stream"):
        body = getattr(request, attribute, None)
        if isinstance(body, bytes | str):
            parts.append(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    return "\n".join(parts)


def _response_text(response: Any, depth: int) -> str:
    parts = []
    try:
        request = getattr(response, "_request", None) or getattr(response, "request", None)
    except RuntimeError:  # an httpx response built without a request
        request = None
    if request is not None:
        parts.append(_request_text(request, depth))
    content = getattr(response, "_content", None)
    if isinstance(content, bytes):
        parts.append(content.decode("utf-8", "replace"))
    return "\n".join(parts)


def render(value: Any, depth: int = 0) -> str:
    """``value`` as an error tracker would capture it (see the module docstring)."""
    import httpx
    import requests

    if depth > MAX_DEPTH:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return "\n".join(f"{render(k, depth + 1)}={render(v, depth + 1)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return "\n".join(render(item, depth + 1) for item in value)
    if isinstance(value, httpx.Request | requests.PreparedRequest | requests.Request):
        return _request_text(value, depth)
    if isinstance(value, httpx.Response | requests.Response):
        return _response_text(value, depth)
    if isinstance(value, BaseException):
        return "\n".join([type(value).__name__, str(value), repr(value), render(vars(value), depth + 1)])
    try:
        return repr(value)
    except Exception as exc:  # a broken repr shows nothing
        return f"<repr failed: {type(exc).__name__}>"


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception reachable through ``__cause__`` and ``__context__``."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _frames(traceback: TracebackType | None) -> Iterator[tuple[str, dict[str, Any]]]:
    while traceback is not None:
        frame = traceback.tb_frame
        filename = Path(frame.f_code.co_filename).resolve()
        if TESTS not in filename.parents:
            yield f"{filename.name}:{frame.f_code.co_name}", dict(frame.f_locals)
        traceback = traceback.tb_next


def error_texts(error: BaseException) -> dict[str, str]:
    """Where -> text, for the error, every exception of its chain, and every frame's locals."""
    texts: dict[str, str] = {}
    for number, current in enumerate(chain(error)):
        where = f"chain[{number}] {type(current).__name__}"
        texts[where] = render(current)
        for frame, local_vars in _frames(current.__traceback__):
            for name, value in local_vars.items():
                texts[f"{where} frame {frame} local {name}"] = render(value)
    return texts


def leaks(error: BaseException, secrets: Mapping[str, str]) -> list[str]:
    """``where: label`` for every known secret showing anywhere in :func:`error_texts`."""
    return [
        f"{where}: {label}"
        for where, text in error_texts(error).items()
        for label, value in secrets.items()
        if value and value in text
    ]

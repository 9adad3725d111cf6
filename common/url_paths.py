"""Values placed in the path of a request URL, written so that no value can change the route.

Backends build request paths from values a caller gives: job ids, resource and system names,
task ids and, on the Superfacility API, whole remote paths. Written as they are, such values could
leave their place in the URL: httpx collapses ``.`` and ``..`` segments (``compute/jobs/m/..`` is
sent as ``compute/jobs``), ``?`` and ``#`` start a query or a fragment, and the servers (FastAPI,
slurmrestd) decode ``%2F`` into ``/`` before they route, so no quoting carries a slash inside one
segment. Every request builder therefore goes through the two functions here:

* :func:`path_segment` writes one value as one segment: percent-quoted (``%``, ``?``, ``#``,
  spaces, control characters and everything else outside the unreserved set), a whole ``.`` or
  ``..`` written ``%2E``/``%2E%2E`` (the server decodes it back, after routing), and an empty value
  or one holding ``/`` refused;
* :func:`path_tail` writes a remote path as the tail of a URL, its slashes kept and each segment
  quoted the same way; a ``..`` segment is refused, since a proxy in front of the API may resolve
  it, encoded or not, and the path would then name another route.

Both refuse with :class:`InvalidJobSpec` naming the field and the facility, before any request.
"""

from __future__ import annotations

from urllib.parse import quote

from .errors import InvalidJobSpec

__all__ = ["path_segment", "path_tail"]

_DOTS = {".": "%2E", "..": "%2E%2E"}


def _quoted(segment: str) -> str:
    """One segment percent-quoted, a whole ``.`` or ``..`` included."""
    return _DOTS.get(segment) or quote(segment, safe="")


def path_segment(value: object, *, field: str, facility: str | None) -> str:
    """``value`` as exactly one URL path segment (see the module docstring).

    Raises :class:`InvalidJobSpec` naming ``field`` and ``facility`` for an empty value or one
    holding ``/``: no quoting keeps a slash inside one segment on servers that decode before they
    route.
    """
    text = str(value)
    if not text:
        raise InvalidJobSpec(f"{field}: must not be empty", field=field, facility=facility)
    if "/" in text:
        raise InvalidJobSpec(
            f"{field}: {text!r} holds a '/', which cannot travel inside one segment of a request "
            "path (servers decode %2F before they route)",
            field=field,
            facility=facility,
        )
    return _quoted(text)


def path_tail(path: str, *, field: str, facility: str | None) -> str:
    """The remote ``path`` as the tail of a URL: slashes kept (an absolute path keeps its leading
    one), every segment quoted as :func:`path_segment` does.

    Raises :class:`InvalidJobSpec` naming ``field`` and ``facility`` for a ``..`` segment, which
    could make the path name another route of the API; give the path without it.
    """
    segments = str(path).split("/")
    if ".." in segments:
        raise InvalidJobSpec(
            f"{field}: {path!r} holds a '..' segment, which this API takes in the request's URL, "
            "where it could lead to another route; give the path without '..'",
            field=field,
            facility=facility,
        )
    return "/".join(_quoted(segment) if segment else "" for segment in segments)

"""HAL ``_links`` of IRI v2 answers: which relation each operation follows, and where it leads.

The newest v2 spec gives every operation a relation (``x-iri-relation``:
``https://iri.science/rels/submit-job``...) and lets answers carry HAL ``_links`` under those
names, usually written as CURIEs (``iri:submit-job``, declared in ``_links.curies``). Where a
resource's answer links an operation, the backend sends the operation there rather than to the
path it would build; where it links none (v1, the reference server), the built path is used.

A link is followed only when it is safe and consistent: on the API's own scheme, host and port
(the API's credentials go with the request), expandable (only the ``{job_id}`` template is
filled), and from a resource whose ``_links.self`` agrees with its ``self_uri``. All functions
here are pure, so they are tested on recorded payloads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ...url_paths import path_segment
from .requests import FACILITY

REL_BASE = "https://iri.science/rels/"
"""Where the DOE-IRI relation names live; ``iri:<name>`` is short for ``REL_BASE + name``."""

#: Operation of the backend -> the relation its link is found under (the spec's x-iri-relation).
RELATIONS: Mapping[str, str] = {
    "submit": "submit-job",
    "update_job": "update-job",
    "get_job": "get-job",
    "list_jobs": "query-jobs",
    "cancel": "cancel-job",
    "chmod": "change-file-mode",
    "chown": "change-file-owner",
    "file": "identify-file",
    "stat": "stat-file",
    "mkdir": "create-directory",
    "symlink": "create-symlink",
    "ls": "list-directory",
    "head": "read-file-head",
    "view": "view-file",
    "tail": "read-file-tail",
    "checksum": "checksum-file",
    "rm": "remove-path",
    "compress": "compress-paths",
    "extract": "extract-archive",
    "mv": "move-path",
    "cp": "copy-path",
    "download": "download-file",
    "upload": "upload-file",
}

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TEMPLATE = re.compile(r"\{([^{}]*)\}")


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``base_url``."""

    def origin(text: str) -> tuple[str, str | None, int | None]:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:
            return (scheme, None, None)
        return (scheme, parts.hostname, port)

    mine = origin(url)
    return mine[1] is not None and mine == origin(base_url)


def _relation_name(key: str, curies: Mapping[str, str]) -> str:
    """``iri:submit-job`` or ``https://iri.science/rels/submit-job`` -> ``submit-job``; other
    names (``self``, a relation of another registry) as they are."""
    prefix, sep, rest = key.partition(":")
    if sep and prefix in curies and not rest.startswith("//"):
        key = curies[prefix].replace("{rel}", rest)
    return key[len(REL_BASE) :] if key.startswith(REL_BASE) else key


def _curies(links: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {"iri": REL_BASE + "{rel}"}
    entries = links.get("curies")
    for entry in entries if isinstance(entries, list) else []:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("href"), str)
        ):
            found[entry["name"]] = entry["href"]
    return found


def parse_links(document: Any) -> dict[str, str]:
    """The single links of an answer's ``_links`` as ``{relation: href}`` (relations shortened,
    see :func:`_relation_name`); plural relations (lists) are left out. An answer whose
    ``_links.self`` disagrees with its ``self_uri`` gives no links: they cannot be trusted."""
    links = document.get("_links") if isinstance(document, dict) else None
    if not isinstance(links, dict):
        return {}
    curies = _curies(links)
    found: dict[str, str] = {}
    for key, value in links.items():
        if key == "curies" or not isinstance(value, dict) or not isinstance(value.get("href"), str):
            continue
        found[_relation_name(key, curies)] = value["href"]
    self_uri = document.get("self_uri")
    if isinstance(self_uri, str) and "self" in found and found["self"].rstrip("/") != self_uri.rstrip("/"):
        return {}
    return found


def expand(href: str, values: Mapping[str, str]) -> str | None:
    """``href`` with its ``{name}`` templates filled from ``values`` (each written as one path
    segment by :func:`~facility_common.url_paths.path_segment`); None when it names a variable
    ``values`` lacks."""
    missing = [name for name in _TEMPLATE.findall(href) if name not in values]
    if missing:
        return None
    return _TEMPLATE.sub(
        lambda match: path_segment(values[match.group(1)], field=match.group(1), facility=FACILITY), href
    )


def request_path(href: str, base_url: str) -> str | None:
    """Where to send a request the link ``href`` leads to: a path relative to ``base_url`` when
    it lies under it, the absolute URL when it is elsewhere on the API's origin. None (the link
    is not followed) when it is on another origin, where the API's credentials would go, or
    carries a query or fragment, which the operation's own parameters would have to merge with.
    """
    parts = urlsplit(href)
    if not same_origin(href, base_url) or parts.query or parts.fragment:
        return None
    base = base_url.rstrip("/") + "/"
    return href[len(base) :] if href.startswith(base) else href

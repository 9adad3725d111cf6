"""HAL ``_links`` of IRI v2 answers (the September 2026 revision of the v2 spec).

Relation names follow the DOE-IRI registry: standard ``self``/``help``/``monitor``, and ``iri:*``
CURIEs expanding to ``https://iri.science/rels/<name>``, the relation URIs the spec gives its
operations in ``x-iri-relation``. Every link agrees with the ``*_uri`` field it mirrors
(``self`` = ``self_uri``, ``iri:located-at`` = ``site_uri``, ...); operation links point at the
operation for that resource, with ``{job_id}`` left as a URI template where the operation needs
one. Empty plural relations are left out rather than sent as empty arrays.

The reference server serves no ``_links`` at all, so in reference mode none are added.
"""

from __future__ import annotations

from typing import Any

from facility_emulator.facility import ResourceRecord

REL_BASE = "https://iri.science/rels/"
CURIES = [{"name": "iri", "href": REL_BASE + "{rel}", "templated": True}]

#: Filesystem operation (path segment) -> relation name, as in the spec's ``x-iri-relation``.
FILE_RELATIONS = {
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

Links = dict[str, Any]


def link(href: str, *, templated: bool = False) -> dict[str, Any]:
    """One HAL link object."""
    return {"href": href, "templated": True} if templated else {"href": href}


def hal(**relations: Any) -> Links:
    """A ``_links`` object from ``name=value`` pairs (``iri_x`` stands for ``iri:x``).

    A value is an href string, a link object, or a list of either; ``None`` and empty lists are
    dropped. The ``iri`` CURIE is declared whenever an ``iri:*`` relation is present.
    """
    links: Links = {}
    for key, value in relations.items():
        name = "iri:" + key[4:].replace("_", "-") if key.startswith("iri_") else key.replace("_", "-")
        if value is None or value == []:
            continue
        if isinstance(value, list):
            links[name] = [link(v) if isinstance(v, str) else v for v in value]
        else:
            links[name] = link(value) if isinstance(value, str) else value
    if any(name.startswith("iri:") for name in links):
        links["curies"] = CURIES
    return links


def has_filesystem(resource: ResourceRecord) -> bool:
    """Whether the filesystem operations apply to ``resource`` (compute and storage do)."""
    return resource.resource_type in ("compute", "storage")


def resource_links(base: str, resource: ResourceRecord, view: dict[str, Any]) -> Links:
    """Links of a Resource: identity, site, capabilities and the operations it offers."""
    rid = resource.id
    operations: dict[str, Any] = {}
    if resource.resource_type == "compute":
        job = "{job_id}"
        operations |= {
            "iri_submit_job": f"{base}/compute/job/{rid}",
            "iri_query_jobs": f"{base}/compute/status/{rid}",
            "iri_get_job": link(f"{base}/compute/status/{rid}/{job}", templated=True),
            "iri_update_job": link(f"{base}/compute/job/{rid}/{job}", templated=True),
            "iri_cancel_job": link(f"{base}/compute/cancel/{rid}/{job}", templated=True),
        }
    if has_filesystem(resource):
        operations["iri_resolve_storage_locations"] = f"{base}/storage/locations/{rid}"
        for op, relation in FILE_RELATIONS.items():
            operations["iri_" + relation.replace("-", "_")] = f"{base}/filesystem/{op}/{rid}"
    if resource.resource_type == "storage":
        operations["iri_get_storage_access_endpoints"] = f"{base}/storage/access-endpoints/{rid}"
    return hal(
        self=view["self_uri"],
        iri_located_at=view["site_uri"],
        iri_has_capability=list(view["capability_uris"]),
        **operations,
    )


def job_links(base: str, resource_id: str, job_id: str) -> Links:
    """Links of a Job: itself (its status) and the operations on it."""
    return hal(
        self=f"{base}/compute/status/{resource_id}/{job_id}",
        iri_update_job=f"{base}/compute/job/{resource_id}/{job_id}",
        iri_cancel_job=f"{base}/compute/cancel/{resource_id}/{job_id}",
    )


def task_links(task_uri: str) -> Links:
    """Links of a Task: itself."""
    return hal(self=task_uri)


def submit_links(task_uri: str) -> Links:
    """Links of a TaskSubmitResponse: the task to monitor."""
    return hal(monitor=task_uri)

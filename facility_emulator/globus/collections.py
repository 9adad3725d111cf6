"""Globus collections on the emulated facilities' storage.

Every collection is a GCSv5 mapped collection over one directory of the sandbox; a Globus path
``/x`` on it is ``<root>/x`` and ``/~/`` is the collection's home. Paths are confined to the
root: ``..`` cannot climb above it (the path is normalised under ``/`` first) and a symlink
resolving outside the root, or outside the sandbox, is refused with the sandbox's own checks.

The catalog (one per emulator, :func:`catalog_of`):

=============  ====================================  ==========================================
name           id                                    root
=============  ====================================  ==========================================
alcf-eagle     IRI ``endpoint_id`` of ``eagle``      ``<root>/eagle`` (IRI ``storage_root``)
alcf-home      IRI ``endpoint_id`` of ``home``       ``<root>/home``; ``/~/`` is ``/<user>``
nersc-dtn      stable, SF API names ``dtn``,         ``<root>/nersc`` (NERSC's global file
               ``perlmutter``                        systems as the DTNs see them)
nersc-hpss     stable, SF API name ``hpss``          ``<root>/nersc-hpss`` (the tape archive)
olcf-dtn       stable                                ``<root>/olcf`` (Orion, as the DTNs see it)
olcf-kronos    stable                                ``<root>/olcf-kronos`` (the archive)
=============  ====================================  ==========================================

The ALCF collections use exactly the ids and roots the IRI v2 storage access endpoints report,
so a client goes from an IRI storage resource to its collection. Other ids are
``uuid5(NAMESPACE_URL, "urn:facility-emulator:globus-collection:<name>")``.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path

from facility_emulator.facility import stable_id
from facility_emulator.globus.scopes import data_access_scope
from facility_emulator.iri.storage import access_endpoint, endpoint_id, storage_root
from facility_emulator.sandbox import Sandbox, SandboxError
from facility_emulator.state import EmulatorState


class PathRefused(Exception):
    """A Globus path that is malformed or leaves its collection."""


@dataclass(frozen=True)
class Collection:
    """One mapped collection: where it lives in the sandbox and how clients name it."""

    name: str
    id: str
    display_name: str
    facility: str
    organization: str
    root: Path
    home: str = "/"
    aliases: tuple[str, ...] = ()

    @property
    def data_access_scope(self) -> str:
        """The dependent scope a Transfer token needs to act on this collection."""
        return data_access_scope(self.id)

    def _lexical(self, globus_path: str) -> Path:
        text = globus_path.strip()
        if not text or "\x00" in text:
            raise PathRefused(f"invalid path {globus_path!r}")
        if text == "~" or text.startswith("~/"):
            text = "/" + text
        if text == "/~" or text.startswith("/~/"):
            text = self.home.rstrip("/") + "/" + text[3:]
        if not text.startswith("/"):
            raise PathRefused(f"path {globus_path!r} must be absolute (start with '/' or '/~/')")
        relative = os.path.normpath("/" + text).lstrip("/")
        return self.root / relative if relative else self.root

    def host_path(self, sandbox: Sandbox, globus_path: str, *, follow: bool = True) -> Path:
        """The sandbox path of a Globus path to read or list (raises :class:`PathRefused`)."""
        lexical = self._lexical(globus_path)
        try:
            resolved = sandbox.resolve(lexical, follow=follow)
        except SandboxError:
            raise PathRefused(f"path {globus_path!r} is not allowed on {self.display_name}") from None
        self._confined(resolved, globus_path)
        return resolved

    def write_path(self, sandbox: Sandbox, globus_path: str) -> Path:
        """The sandbox path of a Globus path to write: a final symlink must stay inside too."""
        lexical = self._lexical(globus_path)
        try:
            resolved = sandbox.destination(lexical)
        except SandboxError:
            raise PathRefused(f"path {globus_path!r} is not allowed on {self.display_name}") from None
        self._confined(resolved.resolve() if resolved.is_symlink() else resolved, globus_path)
        return resolved

    def _confined(self, path: Path, globus_path: str) -> None:
        root = self.root.resolve()
        if path != root and root not in path.parents:
            raise PathRefused(f"path {globus_path!r} is not allowed on {self.display_name}")

    def globus_path(self, host: Path) -> str:
        """The Globus path of a sandbox path inside the root (for listings)."""
        relative = host.relative_to(self.root.resolve()).as_posix()
        return "/" if relative == "." else f"/{relative}"

    def describe(self) -> dict[str, str]:
        """What the emulator's printout and credentials show for this collection."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "facility": self.facility,
            "root": str(self.root),
            "data_access_scope": self.data_access_scope,
        }


def _collection_id(name: str) -> str:
    return stable_id("globus-collection", name)


class CollectionCatalog:
    """The collections of one emulator; creates their root directories."""

    def __init__(self, state: EmulatorState) -> None:
        sandbox = state.sandbox
        found: list[Collection] = []
        for resource in state.facility.resource_list():
            if resource.resource_type != "storage":
                continue
            found.append(
                Collection(
                    name=f"alcf-{resource.name}",
                    id=endpoint_id(resource),
                    display_name=str(access_endpoint(sandbox, resource)["display_name"]),
                    facility="alcf",
                    organization="Argonne Leadership Computing Facility (emulated)",
                    root=storage_root(sandbox, resource),
                    home=f"/{sandbox.user}" if resource.name == "home" else "/",
                )
            )
        nersc = "National Energy Research Scientific Computing Center (emulated)"
        olcf = "Oak Ridge Leadership Computing Facility (emulated)"
        found += [
            Collection(
                "nersc-dtn",
                _collection_id("nersc-dtn"),
                "NERSC DTN (emulated)",
                "nersc",
                nersc,
                sandbox.root / "nersc",
                aliases=("dtn", "perlmutter"),
            ),
            Collection(
                "nersc-hpss",
                _collection_id("nersc-hpss"),
                "NERSC HPSS (emulated)",
                "nersc",
                nersc,
                sandbox.root / "nersc-hpss",
                aliases=("hpss",),
            ),
            Collection(
                "olcf-dtn",
                _collection_id("olcf-dtn"),
                "OLCF DTN (emulated)",
                "olcf",
                olcf,
                sandbox.root / "olcf",
            ),
            Collection(
                "olcf-kronos",
                _collection_id("olcf-kronos"),
                "OLCF Kronos archive (emulated)",
                "olcf",
                olcf,
                sandbox.root / "olcf-kronos",
            ),
        ]
        for collection in found:
            collection.root.mkdir(parents=True, exist_ok=True)
        self._by_id = {c.id.lower(): c for c in found}
        self._by_name = {c.name: c for c in found}
        self._by_alias = {alias: c for c in found for alias in c.aliases}

    def all(self) -> list[Collection]:
        """Every collection, ALCF first."""
        return list(self._by_id.values())

    def get(self, collection_id: str) -> Collection | None:
        """A collection by id (any case)."""
        return self._by_id.get(collection_id.strip().lower())

    def named(self, name: str) -> Collection:
        """A collection by catalog name (``"nersc-dtn"``); KeyError when unknown."""
        return self._by_name[name]

    def by_alias(self, alias: str) -> Collection | None:
        """The collection an SF API name (``dtn``, ``perlmutter``, ``hpss``) stands for."""
        return self._by_alias.get(alias.strip().lower())


_CATALOGS: weakref.WeakKeyDictionary[EmulatorState, CollectionCatalog] = weakref.WeakKeyDictionary()


def catalog_of(state: EmulatorState) -> CollectionCatalog:
    """The collection catalog of an emulator (created on first use)."""
    catalog = _CATALOGS.get(state)
    if catalog is None:
        catalog = _CATALOGS[state] = CollectionCatalog(state)
    return catalog

"""Globus scope strings: parsing, the Transfer scope and the collections' ``data_access`` scopes.

A scope string is a space-separated list of scopes; a scope may carry dependent scopes in
brackets and a dependent scope may be marked optional with ``*``::

    urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/<id>/data_access]

A token issued for that string lets Transfer act on collection ``<id>`` (a GCSv5 mapped
collection needs this consent). The token endpoint uses :func:`split_transfer` to give the
Transfer scopes their own token; the Transfer routes use :func:`consented_collections`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRANSFER_RESOURCE_SERVER = "transfer.api.globus.org"
TRANSFER_SCOPE = "urn:globus:auth:scope:transfer.api.globus.org:all"
_DATA_ACCESS = re.compile(r"https://auth\.globus\.org/scopes/([0-9a-fA-F-]{36})/data_access")


class ScopeSyntaxError(ValueError):
    """A scope string that does not parse (unbalanced brackets, an empty name)."""


@dataclass(frozen=True)
class ScopeTree:
    """One scope with its dependent scopes."""

    name: str
    optional: bool = False
    dependents: tuple[ScopeTree, ...] = ()

    def render(self) -> str:
        """The scope back in Globus's syntax."""
        text = ("*" if self.optional else "") + self.name
        if self.dependents:
            text += "[" + " ".join(dep.render() for dep in self.dependents) + "]"
        return text


def data_access_scope(collection_id: str) -> str:
    """The ``data_access`` scope of a GCSv5 mapped collection."""
    return f"https://auth.globus.org/scopes/{collection_id}/data_access"


def parse_scopes(text: str) -> list[ScopeTree]:
    """Parse a scope string; raises :class:`ScopeSyntaxError`."""
    trees, end = _parse_list(text, 0, nested=False)
    if end != len(text):
        raise ScopeSyntaxError(f"unexpected ']' at position {end} of the scope string")
    return trees


def _parse_list(text: str, pos: int, *, nested: bool) -> tuple[list[ScopeTree], int]:
    """Scopes from ``pos`` up to a closing bracket (nested) or the end; returns (scopes, end)."""
    trees: list[ScopeTree] = []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            if nested:
                raise ScopeSyntaxError("unclosed '[' in the scope string")
            return trees, pos
        if text[pos] == "]":
            return trees, pos
        optional = text[pos] == "*"
        if optional:
            pos += 1
        start = pos
        while pos < len(text) and not text[pos].isspace() and text[pos] not in "[]*":
            pos += 1
        name = text[start:pos]
        if not name:
            raise ScopeSyntaxError(f"empty scope name at position {start} of the scope string")
        dependents: list[ScopeTree] = []
        if pos < len(text) and text[pos] == "[":
            dependents, pos = _parse_list(text, pos + 1, nested=True)
            pos += 1  # the closing bracket
        trees.append(ScopeTree(name, optional, tuple(dependents)))


def render_scopes(trees: list[ScopeTree]) -> str:
    """Scopes back as one string."""
    return " ".join(tree.render() for tree in trees)


def split_transfer(text: str) -> tuple[str, str] | None:
    """``(transfer scopes, other scopes)`` of a requested scope string, or None when it names
    no Transfer scope (or does not parse: the token endpoint then issues it as before)."""
    try:
        trees = parse_scopes(text)
    except ScopeSyntaxError:
        return None
    transfer = [t for t in trees if t.name == TRANSFER_SCOPE]
    if not transfer:
        return None
    return render_scopes(transfer), render_scopes([t for t in trees if t.name != TRANSFER_SCOPE])


def top_level(text: str) -> str:
    """The scope names of a string without their dependents (what a token answer reports)."""
    try:
        return " ".join(tree.name for tree in parse_scopes(text))
    except ScopeSyntaxError:
        return text


def has_transfer_scope(text: str) -> bool:
    """Whether a token's scope string grants the Transfer API."""
    try:
        return any(tree.name == TRANSFER_SCOPE for tree in parse_scopes(text))
    except ScopeSyntaxError:
        return False


def consented_collections(text: str) -> set[str]:
    """Collection ids (lower case) whose ``data_access`` the Transfer scope of ``text`` carries."""
    try:
        trees = parse_scopes(text)
    except ScopeSyntaxError:
        return set()
    found: set[str] = set()
    for tree in trees:
        if tree.name != TRANSFER_SCOPE:
            continue
        for dependent in tree.dependents:
            match = _DATA_ACCESS.fullmatch(dependent.name)
            if match:
                found.add(match.group(1).lower())
    return found


def transfer_scope_with(collection_ids: list[str]) -> str:
    """The Transfer scope carrying the ``data_access`` of each collection (a consent request)."""
    tree = ScopeTree(
        TRANSFER_SCOPE, dependents=tuple(ScopeTree(data_access_scope(c), True) for c in collection_ids)
    )
    return tree.render()

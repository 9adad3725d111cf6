"""The fidelity switch: which behaviour each emulated API follows where real servers differ.

``spec`` (the default) follows the published specification. ``reference`` reproduces what a real
server was observed to do instead (for IRI, the public reference implementation), so a client
can be tested against the shapes it will meet in practice. A flavour reads its level with
``state.fidelity("iri")``; a flavour without reference behaviours of its own behaves as ``spec``
at either level.

A setting is one level for every flavour plus per-flavour overrides, written as text (the CLI's
``--fidelity``) or as a mapping::

    "reference"                  every flavour in reference mode
    "iri=reference"              only IRI
    "reference,firecrest=spec"   all but FirecREST
    {"iri": "reference"}         the mapping form; "*" names the default
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from facility_emulator.flavour_list import FLAVOUR_MODULES

SPEC = "spec"
REFERENCE = "reference"
LEVELS = (SPEC, REFERENCE)

#: Key of the default level in the mapping form.
ALL_FLAVOURS = "*"

#: What ``EmulatorConfig.fidelity`` accepts: the text form or the mapping form.
FidelitySpec = str | Mapping[str, str]


class FidelityError(ValueError):
    """A fidelity setting names an unknown level or flavour."""


def _level(value: str, where: str) -> str:
    level = value.strip().lower()
    if level not in LEVELS:
        raise FidelityError(f"fidelity {where}: unknown level {value!r}; known: {list(LEVELS)}")
    return level


@dataclass(frozen=True)
class Fidelity:
    """A parsed fidelity setting: a default level and per-flavour overrides."""

    default: str = SPEC
    overrides: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, setting: FidelitySpec | Fidelity) -> Fidelity:
        """Read the text or mapping form; raises :class:`FidelityError` naming the bad part."""
        if isinstance(setting, Fidelity):
            return setting
        if isinstance(setting, str):
            pairs: list[tuple[str, str]] = []
            for item in filter(None, (part.strip() for part in setting.split(","))):
                name, sep, level = item.partition("=")
                pairs.append((name.strip(), level) if sep else (ALL_FLAVOURS, name))
        else:
            pairs = [(str(name), str(level)) for name, level in setting.items()]
        default = SPEC
        overrides: dict[str, str] = {}
        for name, level in pairs:
            if name == ALL_FLAVOURS:
                default = _level(level, "default")
                continue
            if name not in FLAVOUR_MODULES:
                raise FidelityError(f"fidelity: unknown flavour {name!r}; known: {sorted(FLAVOUR_MODULES)}")
            overrides[name] = _level(level, f"of {name}")
        return cls(default, overrides)

    def of(self, flavour: str) -> str:
        """The level ``flavour`` follows."""
        return self.overrides.get(flavour, self.default)

    def text(self) -> str:
        """The text form (round-trips through :meth:`parse`)."""
        return ",".join(
            [self.default, *(f"{name}={level}" for name, level in sorted(self.overrides.items()))]
        )

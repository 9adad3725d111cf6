"""The serialization every trigger of the provider shares.

Airflow stores a deferred task's trigger as its class path and the keyword arguments that rebuild
it, and the triggerer rebuilds it from them (after a restart too). Each trigger names those
arguments once, in :attr:`SerializedTrigger.serialized_fields`; they are kept as attributes of
the same names, holding primitives only (the stored form is JSON).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger

__all__ = ["SerializedTrigger"]


class SerializedTrigger(BaseTrigger):
    """A trigger rebuilt from the attributes named in :attr:`serialized_fields`."""

    serialized_fields: ClassVar[tuple[str, ...]] = ()
    """The constructor's keyword arguments, each kept as the attribute of the same name."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and the keyword arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {name: getattr(self, name) for name in self.serialized_fields},
        )

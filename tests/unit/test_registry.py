"""The backend registry: lazy built-ins, run-time registration, actionable errors."""

from __future__ import annotations

from typing import Any

import pytest

from facility_common import ConfigurationError, available_backends, get_backend_class, register_backend
from facility_common.backends.base import FacilityBackend
from facility_common.backends.iri import IRIBackend


class ThirdPartyBackend(FacilityBackend):
    name = "third-party"


@pytest.fixture(autouse=True)
def _registry_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backends registered by a test stay in that test: other tests in the same worker list the
    available backends."""
    from facility_common import registry

    monkeypatch.setattr(registry, "_registered", dict(registry._registered))


def test_builtin_iri_is_found() -> None:
    assert "iri" in available_backends()
    assert get_backend_class("iri") is IRIBackend


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        get_backend_class("nope")
    assert "nope" in str(info.value) and "iri" in str(info.value)


def test_registered_backends_by_class_and_path() -> None:
    register_backend("third-party", ThirdPartyBackend)
    register_backend("third-party-path", f"{__name__}:ThirdPartyBackend")
    assert get_backend_class("third-party") is ThirdPartyBackend
    assert get_backend_class("third-party-path") is ThirdPartyBackend
    assert {"third-party", "third-party-path"} <= set(available_backends())


def test_import_failure_is_a_configuration_error() -> None:
    register_backend("broken", "facility_common.backends.does_not_exist:Backend")
    with pytest.raises(ConfigurationError, match="could not be imported"):
        get_backend_class("broken")


def test_connect_rejects_unknown_options() -> None:
    from facility_common import FacilityClient

    with pytest.raises(ConfigurationError, match=r"not an option of the .iri. backend"):
        FacilityClient.connect("iri", base_url="https://iri.example.org/api/v1", no_such_option=1)


def test_every_builtin_descriptor_matches_its_backend() -> None:
    from facility_common.registry import BUILTIN_DESCRIPTORS

    for descriptor in BUILTIN_DESCRIPTORS:
        backend = descriptor.backend_class()
        assert backend.name == descriptor.name
        assert descriptor.options_class() is backend.Options
        assert descriptor.conn_type == f"facility_{descriptor.name}"
        assert descriptor.hook_class.endswith("Hook")


def test_options_from_text_name_the_option_and_the_backend() -> None:
    from facility_common.registry import get_descriptor

    options = (
        get_descriptor("iri")
        .options_class()
        .from_mapping(
            "iri", {"timeout": "12.5", "verify": "false", "submit_lookup_delays": "0, 0.5", "project": "p1"}
        )
    )
    assert (options.timeout, options.verify, options.submit_lookup_delays) == (12.5, False, (0.0, 0.5))
    with pytest.raises(ConfigurationError, match=r"timeout: expected a number \[facility=iri\]"):
        get_descriptor("iri").options_class().from_mapping("iri", {"timeout": "soon"})
    with pytest.raises(ConfigurationError, match="settle_window: must not be negative"):
        get_descriptor("sfapi").options_class().from_mapping("sfapi", {"settle_window": -1})


def test_a_typed_options_object_is_checked_like_options_from_text() -> None:
    from facility_common import FacilityClient
    from facility_common.registry import get_descriptor

    options = get_descriptor("iri").options_class()
    client = FacilityClient.connect(
        "iri", base_url="https://iri.example.org/api/v2", options=options(project="p1")
    )
    assert client.backend.options.project == "p1"
    client.close()
    with pytest.raises(ConfigurationError, match=r"timeout: must not be negative \[facility=iri\]"):
        FacilityClient.connect(
            "iri", base_url="https://iri.example.org/api/v2", options=options(timeout=-1.0)
        )
    with pytest.raises(ConfigurationError, match="not both"):
        FacilityClient.connect(
            "iri", base_url="https://iri.example.org/api/v2", options=options(), project="p1"
        )


def test_installed_backends_are_read_once_until_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from facility_common import registry

    registry.forget_installed_backends()
    calls: list[str] = []
    real = importlib.metadata.entry_points

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs.get("group", ""))
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    for _ in range(3):
        available_backends()
    assert calls == [registry.ENTRY_POINT_GROUP]
    registry.forget_installed_backends()
    available_backends()
    assert len(calls) == 2
    registry.forget_installed_backends()

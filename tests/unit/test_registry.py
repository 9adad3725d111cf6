"""The backend registry: lazy built-ins, run-time registration, actionable errors."""

from __future__ import annotations

import pytest

from facility_common import ConfigurationError, available_backends, get_backend_class, register_backend
from facility_common.backends.base import FacilityBackend
from facility_common.backends.iri import IRIBackend


class ThirdPartyBackend(FacilityBackend):
    name = "third-party"


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

    with pytest.raises(ConfigurationError, match="not an option of the .iri. backend"):
        FacilityClient.connect("iri", base_url="https://iri.example.org/api/v1", no_such_option=1)

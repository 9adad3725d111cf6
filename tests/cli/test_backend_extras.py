"""The API extras of the facility pages are reachable from the blocking client: its ``backend``
runs their coroutines on the client's loop, and ``call_backend`` is the same call by name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from facility_common import FacilityClient, UnsupportedOperation


@pytest.fixture
def s3m(cli_emulator: Any) -> Any:
    credentials = cli_emulator.flavour_credentials("s3m")
    with FacilityClient.connect(
        "s3m", base_url=cli_emulator.api_url("s3m"), auth=credentials["token"]
    ) as client:
        yield client


def test_the_documented_s3m_extras_work_synchronously(s3m: FacilityClient) -> None:
    expiry = s3m.backend.token_expiry()  # as docs/facility-olcf-s3m.md writes it
    assert isinstance(expiry, datetime) and expiry.tzinfo is not None
    assert isinstance(s3m.call_backend("token_expiry"), datetime)
    details = s3m.backend.introspect()
    assert isinstance(details["planned_expiration"], datetime) and details["project"]
    assert s3m.backend.name == "s3m"  # plain attributes are the backend's own
    assert "token_expiry" in dir(s3m.backend)


def test_an_extra_the_backend_lacks_is_unsupported(s3m: FacilityClient) -> None:
    with pytest.raises(UnsupportedOperation, match="no_such_call"):
        s3m.call_backend("no_such_call")
    with pytest.raises(UnsupportedOperation):
        s3m.call_backend("_session")
    with pytest.raises(AttributeError):
        s3m.backend.no_such_call  # noqa: B018

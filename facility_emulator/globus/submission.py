"""Reading a ``transfer`` submission document (``POST /transfer``) into items and options.

Accepted: ``DATA_TYPE`` ``transfer``, ``submission_id``, ``source_endpoint``,
``destination_endpoint``, ``DATA`` (``transfer_item`` entries: ``source_path``,
``destination_path``, ``recursive``, ``external_checksum``, ``checksum_algorithm``), ``label``,
``sync_level`` (0-3), ``verify_checksum``, ``preserve_timestamp``, ``deadline`` (ISO 8601, default
24 hours after submission), ``skip_source_errors``, ``encrypt_data``, ``fail_on_quota_errors``,
``delete_destination_extra``, ``notify_on_*``, ``source_local_user``/``destination_local_user``
(ignored). Refusals are 400 ``ClientError.BadRequest`` naming the field
(``ClientError.BadRequest.NoTransferItems`` for an empty ``DATA``), as Transfer answers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from facility_emulator.globus.access import GlobusError
from facility_emulator.globus.copier import HASH_ALGORITHMS
from facility_emulator.globus.tasks import TransferItem, TransferOptions

DEFAULT_DEADLINE = timedelta(hours=24)
MAX_LABEL = 128
BOOLEAN_FIELDS = (
    "verify_checksum",
    "preserve_timestamp",
    "skip_source_errors",
    "encrypt_data",
    "fail_on_quota_errors",
    "delete_destination_extra",
    "notify_on_succeeded",
    "notify_on_failed",
    "notify_on_inactive",
)


@dataclass(frozen=True)
class Submission:
    """A checked transfer submission."""

    submission_id: str
    source_endpoint: str
    destination_endpoint: str
    label: str | None
    items: list[TransferItem]
    options: TransferOptions


def bad_request(message: str, code: str = "ClientError.BadRequest") -> GlobusError:
    return GlobusError(400, code, message)


def check_submission_id(value: Any) -> str:
    """A submission id must be a UUID (as ``GET /submission_id`` hands out)."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request("submission_id is required; get one from GET /submission_id")
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise bad_request(f"submission_id {value!r} is not a valid submission id") from None


def check_label(value: Any) -> str | None:
    """Transfer's label rules: at most 128 characters, no newlines, no outer whitespace."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request("label must be a string")
    if len(value) > MAX_LABEL or "\n" in value or "\r" in value or value != value.strip():
        raise bad_request(
            f"label must be at most {MAX_LABEL} characters, without newlines or leading/trailing spaces"
        )
    return value


def parse_deadline(value: Any, now: datetime) -> datetime:
    if value is None:
        return now + DEFAULT_DEADLINE
    if not isinstance(value, str):
        raise bad_request("deadline must be an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"deadline {value!r} is not an ISO 8601 date-time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= now:
        raise bad_request(f"deadline {value!r} is in the past")
    return moment


def _sync_level(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
        raise bad_request(f"sync_level must be 0, 1, 2 or 3, got {value!r}")
    return value


def _item(index: int, raw: Any) -> TransferItem:
    where = f"DATA[{index}]"
    if not isinstance(raw, dict):
        raise bad_request(f"{where} must be a transfer_item object")
    kind = raw.get("DATA_TYPE", "transfer_item")
    if kind != "transfer_item":
        raise bad_request(f"{where}.DATA_TYPE {kind!r} is not supported; use transfer_item")
    paths = {}
    for name in ("source_path", "destination_path"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise bad_request(f"{where}.{name} is required")
        paths[name] = value
    recursive = raw.get("recursive", False)
    if recursive is None:
        recursive = False
    if not isinstance(recursive, bool):
        raise bad_request(f"{where}.recursive must be a boolean")
    algorithm = raw.get("checksum_algorithm")
    if algorithm is not None and (not isinstance(algorithm, str) or algorithm.upper() not in HASH_ALGORITHMS):
        raise bad_request(f"{where}.checksum_algorithm must be one of {sorted(HASH_ALGORITHMS)}")
    checksum = raw.get("external_checksum")
    if checksum is not None and not isinstance(checksum, str):
        raise bad_request(f"{where}.external_checksum must be a string")
    return TransferItem(paths["source_path"], paths["destination_path"], recursive, checksum, algorithm)


def parse_submission(body: Any, now: datetime) -> Submission:
    """Check a transfer document; raises :class:`GlobusError` (400) naming the bad field."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a transfer document (a JSON object)")
    if body.get("DATA_TYPE") != "transfer":
        raise bad_request(f"DATA_TYPE must be 'transfer', got {body.get('DATA_TYPE')!r}")
    submission_id = check_submission_id(body.get("submission_id"))
    endpoints = {}
    for name in ("source_endpoint", "destination_endpoint"):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise bad_request(f"{name} is required")
        endpoints[name] = value.strip()
    data = body.get("DATA")
    if not isinstance(data, list) or not data:
        raise bad_request("A transfer requires at least one item", "ClientError.BadRequest.NoTransferItems")
    items = [_item(index, raw) for index, raw in enumerate(data)]
    flags: dict[str, bool] = {}
    for name in BOOLEAN_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise bad_request(f"{name} must be a boolean")
        if value is not None:
            flags[name] = value
    options = TransferOptions(
        deadline=parse_deadline(body.get("deadline"), now),
        sync_level=_sync_level(body.get("sync_level")),
        **flags,
    )
    return Submission(
        submission_id,
        endpoints["source_endpoint"],
        endpoints["destination_endpoint"],
        check_label(body.get("label")),
        items,
        options,
    )

"""The Transfer flavour's documents carry every field of globus-sdk's own Transfer fixtures
(``globus_sdk.testing.data.transfer``: the task list, submit, endpoint and stat responses)."""

from __future__ import annotations

from globus_sdk import TransferData

from facility_emulator import EmulatorServer
from facility_emulator.globus.collections import catalog_of

from .globus_support import collection, transfer_client, transfer_token, wait_task

#: Field names of the documents in globus-sdk's own Transfer fixtures (globus_sdk.testing.data).
SDK_TASK_FIELDS = [
    "DATA_TYPE",
    "bytes_checksummed",
    "bytes_transferred",
    "canceled_by_admin",
    "canceled_by_admin_message",
    "command",
    "completion_time",
    "deadline",
    "delete_destination_extra",
    "destination_endpoint",
    "destination_endpoint_display_name",
    "destination_endpoint_id",
    "directories",
    "effective_bytes_per_second",
    "encrypt_data",
    "fail_on_quota_errors",
    "fatal_error",
    "faults",
    "files",
    "files_skipped",
    "files_transferred",
    "filter_rules",
    "history_deleted",
    "is_ok",
    "is_paused",
    "label",
    "nice_status",
    "nice_status_details",
    "nice_status_expires_in",
    "nice_status_short_description",
    "owner_id",
    "preserve_timestamp",
    "recursive_symlinks",
    "request_time",
    "skip_source_errors",
    "source_endpoint",
    "source_endpoint_display_name",
    "source_endpoint_id",
    "status",
    "subtasks_canceled",
    "subtasks_expired",
    "subtasks_failed",
    "subtasks_pending",
    "subtasks_retrying",
    "subtasks_skipped_errors",
    "subtasks_succeeded",
    "subtasks_total",
    "symlinks",
    "sync_level",
    "task_id",
    "type",
    "username",
    "verify_checksum",
]
SDK_ENDPOINT_FIELDS = [
    "DATA_TYPE",
    "acl_available",
    "acl_editable",
    "activated",
    "default_directory",
    "description",
    "disable_anonymous_writes",
    "disable_verify",
    "display_name",
    "entity_type",
    "expire_time",
    "expires_in",
    "force_encryption",
    "force_verify",
    "french_english_bilingual",
    "gcp_connected",
    "gcp_paused",
    "globus_connect_setup_key",
    "host_endpoint_id",
    "host_path",
    "id",
    "in_use",
    "is_globus_connect",
    "mfa_required",
    "myproxy_dn",
    "myproxy_server",
    "non_functional",
    "non_functional_endpoint_display_name",
    "non_functional_endpoint_id",
    "oauth_server",
    "organization",
    "public",
    "shareable",
    "username",
]
SDK_FILE_FIELDS = [
    "DATA_TYPE",
    "group",
    "last_modified",
    "link_group",
    "link_last_modified",
    "link_size",
    "link_target",
    "link_user",
    "name",
    "permissions",
    "size",
    "type",
    "user",
]
SDK_SUBMIT_FIELDS = [
    "DATA_TYPE",
    "code",
    "message",
    "request_id",
    "resource",
    "submission_id",
    "task_id",
    "task_link",
]


def test_documents_carry_the_fields_of_globus_sdks_fixtures(server: EmulatorServer) -> None:
    client = transfer_client(server, transfer_token(server, *catalog_of(server.state).all()))
    eagle, nersc = collection(server, "alcf-eagle"), collection(server, "nersc-dtn")
    (eagle.root / "fields.txt").write_text("fields\n")
    data = TransferData(eagle.id, nersc.id)
    data.add_item("/fields.txt", "/fields.txt")
    submitted = client.submit_transfer(data)
    assert set(SDK_SUBMIT_FIELDS) <= set(submitted.data)
    task = wait_task(client, submitted["task_id"])
    assert set(SDK_TASK_FIELDS) <= set(task)
    [listed] = client.task_list(filter={"task_id": [submitted["task_id"]]})
    assert listed == task
    assert set(SDK_ENDPOINT_FIELDS) <= set(client.get_endpoint(eagle.id).data)
    [entry] = [e for e in client.operation_ls(eagle.id, path="/") if e["name"] == "fields.txt"]
    assert set(SDK_FILE_FIELDS) <= set(entry)
    assert set(client.cancel_task(submitted["task_id"]).data) >= {"DATA_TYPE", "code", "message", "resource"}

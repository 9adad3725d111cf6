"""The message of each API's error answers, read from recorded payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from facility_common.problem_detail import problem_detail, slurm_errors

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"


def _payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def _slurm_refusal(description: str, number: int) -> dict[str, Any]:
    """slurmrestd v0.0.43's answer to a refused submit: a long ``meta`` block, then the errors."""
    missing = _payload("s3m/v0.0.43_job_missing.json")
    return {
        "meta": missing["meta"],
        "errors": [
            {"description": description, "error_number": number, "error": "Invalid partition name specified"}
        ],
        "warnings": [],
    }


def test_slurmrestd_errors_give_their_description_and_number() -> None:
    refusal = _slurm_refusal("invalid partition specified: nope", 2000)
    assert len(json.dumps(refusal)) > 300  # an excerpt of the raw JSON stops before the errors
    assert problem_detail(refusal) == "invalid partition specified: nope (error 2000)"
    recorded = _payload("s3m/v0.0.43_job_missing.json")
    assert problem_detail(recorded) == "Unable to find JobId=99999 (error 2017)"


def test_slurmrestd_errors_without_a_description_use_the_error_name() -> None:
    data = {"errors": [{"error": "Access denied", "error_number": 1007}, {"source": "x"}], "meta": {}}
    assert slurm_errors(data) == "Access denied (error 1007)"
    assert slurm_errors({"errors": []}) is None and slurm_errors(["not", "a", "mapping"]) is None


def test_iri_problems_give_their_detail_and_the_invalid_parameters() -> None:
    assert problem_detail(_payload("iri/problem_404_job.json")) == "Job 999 not found"
    assert problem_detail(_payload("iri/problem_422_invalid_params.json")) == (
        "Invalid job specification: attributes.duration: Input should be greater than or equal to 1"
    )


def test_flux_and_firecrest_messages() -> None:
    assert problem_detail(_payload("flux/submit_refused.json")) == (
        "Invalid submit request: The server only has 4 nodes, you requested 8"
    )
    assert problem_detail(_payload("firecrest/error_not_found.json")) == "Job not found"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"status": "error", "error": "job 12 is not yours"}, "job 12 is not yours"),
        (
            {"detail": [{"loc": ["body", "attributes", "duration"], "msg": "must be positive", "type": "x"}]},
            "attributes.duration: must be positive",
        ),
        ({"detail": ["first", "second"]}, "first; second"),
        ({"title": "Service Unavailable"}, "Service Unavailable"),
        ({"detail": "  "}, None),
        ({"unrelated": 1}, None),
        ([1, 2, 3], None),
        ("plain text", None),
        (None, None),
    ],
)
def test_other_shapes(data: Any, expected: str | None) -> None:
    assert problem_detail(data) == expected

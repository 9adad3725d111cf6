"""The last lines of an output, read forwards in pieces or backwards from a file's end, and the
Flux ``/output`` answer read one string at a time (recorded payloads)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from facility_common.backends.flux.output import OutputTail
from facility_common.output_tail import LineTail, last_lines, read_tail

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "flux"

TEXTS = [
    "",
    "one line, no break",
    "a\nb\nc\n",
    "a\nb\nc",
    "\n\n\n",
    "crlf\r\nlines\r\nend\r\n",
    "ünïcödé\nzwei\n",
    "x" * 1000 + "\n" + "y" * 10,
]


def expected(text: str, count: int) -> str:
    lines = text.split("\n")
    last = lines.pop()
    kept = [line + "\n" for line in lines] + ([last] if last else [])
    return "".join(kept[-count:]) if count else ""


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("count", [0, 1, 2, 3, 10])
def test_a_tail_fed_in_any_pieces_is_the_last_lines(text: str, count: int) -> None:
    assert last_lines(text, count) == expected(text, count)
    rng = random.Random(count * 31 + len(text))
    for _ in range(20):
        tail = LineTail(count)
        position = 0
        while position < len(text):
            step = rng.randint(1, 7)
            tail.feed(text[position : position + step])
            position += step
        assert tail.text() == expected(text, count)


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("count", [1, 2, 3, 10])
def test_a_file_read_backwards_gives_the_same_tail(tmp_path: Path, text: str, count: int) -> None:
    path = tmp_path / "out"
    path.write_text(text, encoding="utf-8")
    assert read_tail(str(path), count) == expected(text, count)


def test_a_file_larger_than_a_block(tmp_path: Path) -> None:
    path = tmp_path / "out"
    lines = [f"line {n} " + "é" * (n % 50) + "\n" for n in range(20_000)]
    path.write_text("".join(lines), encoding="utf-8")
    assert read_tail(str(path), 3) == "".join(lines[-3:])
    assert read_tail(str(path), 5000) == "".join(lines[-5000:])


def answer_bytes(document: object) -> bytes:
    return json.dumps(document).encode()


def fed(data: bytes, tail: int, piece: int) -> str | None:
    reader = OutputTail(tail)
    for start in range(0, len(data), piece):
        reader.feed(data[start : start + piece])
    return reader.finish()


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 100_000])
def test_the_recorded_output_answer_read_in_pieces(piece: int) -> None:
    data = (PAYLOADS / "output.json").read_bytes()
    assert fed(data, 2, piece) == "line 2\noops\n"
    assert fed(data, 10, piece) == "line 1\nline 2\noops\n"


@pytest.mark.parametrize("piece", [1, 5, 4096])
def test_chunks_with_escapes_and_lines_across_chunks(piece: int) -> None:
    chunks = ['say "hi"\\', "\tpart", "ial\nnext ☃\n", "\u0001 end", "", "\n\nlast"]
    data = json.dumps({"Output": chunks}, indent=2).encode()
    assert fed(data, 3, piece) == last_lines("".join(chunks), 3)
    compact = json.dumps({"Output": chunks}, ensure_ascii=False, separators=(",", ":")).encode()
    assert fed(compact, 3, piece) == last_lines("".join(chunks), 3)


def test_a_message_answer_is_no_output() -> None:
    data = answer_bytes({"Message": "The output does not exist yet, or the jobid is incorrect."})
    assert fed(data, 3, 5) is None


def test_another_key_order_is_read_whole() -> None:
    assert fed(answer_bytes({"id": 1, "Output": ["a\n", "b\n"]}), 1, 3) == "b\n"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json at all, long enough to be past the opening of an answer ......",
        b'{"Output": ["a\\n", 3]}',
        b'{"Output": ["a\\n", "b',
        b'{"Output": ["a\\n"]',
        b'{"Output": ["a\\n"]} trailing',
    ],
)
def test_broken_answers_are_value_errors(body: bytes) -> None:
    with pytest.raises(ValueError):
        fed(body, 2, 4)


def test_a_huge_list_keeps_only_the_tail() -> None:
    reader = OutputTail(2)
    reader.feed(b'{"Output": [')
    for n in range(100_000):
        reader.feed(json.dumps(f"line {n}\n").encode() + b", ")
    reader.feed(b'"end"]}')
    assert reader.finish() == "line 99999\nend"

"""split_text: every piece under the limit, nothing lost, boundaries as natural as possible."""

from __future__ import annotations

import random

import pytest

from services.textsplit import json_size, split_text


def words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("seed", range(5))
def test_pieces_fit_and_keep_every_word(seed):
    rng = random.Random(seed)
    alphabet = 'abcdefghij "\\é漢😀\n'
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(10_000, 60_000)))
    limit = rng.choice([100, 1_000, 7_000])
    pieces = split_text(text, limit)
    assert all(json_size(p) <= limit for p in pieces)
    assert words("\n".join(pieces)) == words(text) or "".join(pieces).replace(" ", "").replace("\n", "") == (
        text.replace(" ", "").replace("\n", "")
    )


def test_prefers_paragraphs_then_sentences():
    text = "First paragraph. It has two sentences.\n\nSecond paragraph here."
    assert split_text(text, 60) == ["First paragraph. It has two sentences.", "Second paragraph here."]
    assert split_text("One sentence here. Another one there. A third.", 50) == [
        "One sentence here. Another one there.",
        "A third.",
    ]


def test_short_text_is_one_piece_and_blank_text_none():
    assert split_text("hello", 100) == ["hello"]
    assert split_text("   \n ", 100) == []


def test_a_word_longer_than_the_limit_is_split_by_characters():
    pieces = split_text("x" * 250, 100)
    assert "".join(pieces) == "x" * 250 and all(json_size(p) <= 100 for p in pieces)


def test_code_fence_split_is_closed_and_reopened():
    code = "```python\n" + "\n".join(f"print({i})" for i in range(400)) + "\n```"
    pieces = split_text(code, 1_000)
    assert len(pieces) > 2
    for piece in pieces:
        assert piece.count("```") % 2 == 0
    assert pieces[1].startswith("```python\n")

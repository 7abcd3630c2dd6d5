"""The local backend's retrieval: parsing, FTS5 index freshness, and answer quality on the shipped docs."""

from __future__ import annotations

import os

import pytest

from services.backends import FinalAnswer, Question
from services.backends.local import LocalBackend
from services.documents import parse_document
from services.knowledge import KnowledgeIndex
from tests.conftest import DOCS


async def ask(backend: LocalBackend, text: str) -> FinalAnswer:
    events = [e async for e in backend.answer(Question(text=text, conversation_key="k"))]
    assert isinstance(events[-1], FinalAnswer) and sum(isinstance(e, FinalAnswer) for e in events) == 1
    return events[-1]


@pytest.fixture(scope="module")
def shipped() -> LocalBackend:
    return LocalBackend(KnowledgeIndex(DOCS))


@pytest.mark.parametrize(
    ("question", "path", "heading_words"),
    [
        ("how long are dedupe markers kept?", "settings.md", "State"),
        ("which port does the bot listen on", "settings.md", "Server"),
        ("what happens when a token is expired or wrongly signed", "security.md", "Authentication"),
        ("how do I run the Agents Playground headless", "local-development.md", "Playground"),
        ("why does only bot/ import botbuilder", "architecture.md", "botbuilder"),
        ("the bot answers 403", "troubleshooting.md", "403"),
        ("what does the new command do", "commands.md", "Commands"),
        ("restrict the bot to our tenants", "security.md", "Tenant"),
    ],
)
async def test_question_cites_the_file_with_the_answer_first(shipped, question, path, heading_words):
    answer = await ask(shipped, question)
    first = answer.citations[0]
    assert (first.number, first.source) == (1, path)
    assert heading_words.lower() in first.heading.lower()
    assert answer.text.startswith("**") or answer.text.startswith("No passage")
    assert "[1]" in answer.text and first.excerpt


async def test_unrelated_question_says_nothing_was_found(shipped):
    answer = await ask(shipped, "zebra quantum marmalade")
    assert answer.citations == []
    assert "found nothing" in answer.text and "zebra quantum marmalade" in answer.text


async def test_answer_quotes_the_matching_paragraph_not_the_whole_file(shipped):
    answer = await ask(shipped, "DEDUPE_TTL_SECONDS")
    assert "DEDUPE_TTL_SECONDS" in answer.text
    assert "MICROSOFT_APP_PASSWORD" not in answer.text


async def test_state_keeps_a_conversation_id_and_counts_turns(shipped):
    first = await ask(shipped, "port")
    events = [e async for e in shipped.answer(Question(text="port", conversation_key="k", state=first.state))]
    assert events[-1].state["conversation_id"] == first.state["conversation_id"]
    assert events[-1].state["turns"] == 2


def test_index_follows_added_changed_and_removed_files(tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "travel.md").write_text("# Travel policy\n\n## Trains\n\nBook first class for trips over four hours.\n")
    index = KnowledgeIndex(folder, tmp_path / "index.db", refresh_interval=0)
    assert [p.path for p in index.search("first class trains")] == ["travel.md"]

    (folder / "travel.md").write_text("# Travel policy\n\n## Trains\n\nSecond class only, always.\n")
    stat = (folder / "travel.md").stat()
    os.utime(folder / "travel.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    hits = index.search("class")
    assert "Second class only" in hits[0].body

    (folder / "expenses.txt").write_text("Meals are reimbursed up to 40 euros a day.\n")
    assert index.search("meals reimbursed")[0].path == "expenses.txt"
    (folder / "travel.md").unlink()
    assert index.search("trains") == []
    assert index.document_count() == 1
    index.close()
    reopened = KnowledgeIndex(folder, tmp_path / "index.db", refresh_interval=0)  # persisted, not rebuilt
    assert reopened.refresh(force=True) == 0 and reopened.document_count() == 1


def test_markdown_sections_carry_heading_paths_and_ignore_headings_in_code(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(
        "# Guide\n\nIntro.\n\n## Setup\n\n### Install\n\nRun it.\n\n```bash\n# not a heading\n```\n\n## Use\n\nAsk.\n"
    )
    document = parse_document(path)
    assert document.title == "Guide"
    assert [s.heading for s in document.sections] == ["", "Setup › Install", "Use"]
    assert "# not a heading" in document.sections[1].body


def test_html_is_parsed_into_titled_sections_without_scripts(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Benefits</title><script>var x = 'secret';</script></head><body>"
        "<h1>Benefits</h1><p>Overview &amp; intro.</p><h2>Health</h2><ul><li>Dental</li><li>Vision</li></ul>"
        "</body></html>"
    )
    document = parse_document(path)
    assert document.title == "Benefits"
    assert [s.heading for s in document.sections] == ["", "Health"]
    assert "Overview & intro." in document.sections[0].body
    assert "- Dental" in document.sections[1].body and "secret" not in str(document)


def test_query_syntax_cannot_break_the_search(tmp_path):
    index = KnowledgeIndex(DOCS)
    for text in ['"unbalanced', "NEAR(a b)", "a* OR -b", "port:3978", "); DROP TABLE passages; --", "???"]:
        index.search(text)  # no sqlite3.OperationalError


async def test_partial_matches_are_flagged_but_common_words_do_not_count(shipped):
    full = await ask(shipped, "which port does the bot listen on?")  # "bot" is in most passages
    assert not full.text.startswith("No passage") and full.citations[0].source == "settings.md"
    partial = await ask(shipped, "zebra marmalade port")
    assert partial.text.startswith("No passage in the knowledge folder has every word")


async def test_excerpts_are_one_clean_line(shipped):
    answer = await ask(shipped, "port")
    for citation in answer.citations:
        assert "\n" not in citation.excerpt and "`" not in citation.excerpt

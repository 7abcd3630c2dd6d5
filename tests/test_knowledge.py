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
    assert "[1]" in answer.text and first.excerpt
    assert "found nothing" not in answer.text


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


def test_html_superscripts_stay_powers(tmp_path):
    # SQLite's limits page (sqlite3-doc): "a string or BLOB length up to 2<small><sup>31</sup></small>-1"
    path = tmp_path / "limits.html"
    path.write_text("<html><body><h1>Limits</h1><p>A string length up to 2<small><sup>31</sup></small>-1 or "
                    "2147483647, and 10<sup>6</sup> rows, since the 25<sup>th</sup> release<sup>[a]</sup>.</p>"
                    "</body></html>")  # fmt: skip
    body = parse_document(path).sections[0].body
    assert "2^31-1 or 2147483647" in body and "10^6 rows" in body and "25th release[a]" in body


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


async def test_a_weak_match_says_nothing_was_found_instead_of_pasting_the_closest_passage(shipped):
    full = await ask(shipped, "which port does the bot listen on?")  # "bot" is in most passages
    assert full.citations[0].source == "settings.md"
    partial = await ask(shipped, "zebra marmalade port")  # only the commonest word matches
    assert partial.citations == [] and "found nothing" in partial.text


async def test_excerpts_are_one_clean_line(shipped):
    answer = await ask(shipped, "port")
    for citation in answer.citations:
        assert "\n" not in citation.excerpt and "`" not in citation.excerpt and "**" not in citation.excerpt
        assert len(citation.excerpt) <= 240 and citation.excerpt.endswith((".", "…", ")", ":"))


async def test_readme_try_it_question_gets_a_real_answer(shipped):
    answer = await ask(shipped, "how do I restrict the bot to our tenants?")
    assert answer.citations[0].source == "security.md" and answer.citations[0].heading == "Tenant allow-list"
    assert "ALLOWED_TENANTS" in answer.text and answer.text.index("[1]") > 0
    assert "****" not in answer.text and answer.text.count("`") % 2 == 0


async def test_a_misspelt_word_is_read_as_the_indexed_word(shipped):
    answer = await ask(shipped, "how do I restrict the bot to our tenents?")
    assert answer.citations[0].source == "security.md"


PAGE_WITH_BOILERPLATE = """<html><head><title>25.1. Routine Vacuuming - Manual</title></head><body>
<div class="navheader"><table summary="Navigation header"><tr><th colspan="3">25.1. Routine Vacuuming</th></tr>
<tr><td><a href="a.html">Prev</a></td><td><a href="b.html">Up</a></td><td><a href="c.html">Next</a></td></tr>
</table></div>
<div class="sect1"><h2 class="title">25.1. Routine Vacuuming<a class="headerlink" href="#x">¶</a></h2>
<p>Databases must be vacuumed regularly to recover disk space.</p>
<div class="note"><h3 class="title">Note</h3><p>Plain VACUUM does not lock the table.</p></div>
<h3>25.1.1. Vacuuming Basics</h3><p>Run <code>VACUUM</code> from cron.</p>
<div class="admonition warning"><p class="admonition-title">Warning</p><p>Never kill a running VACUUM.</p></div>
</div>
<div class="navfooter"><a href="a.html">Prev</a> <a href="b.html">Up</a> <a href="c.html">Next</a></div>
<footer>Copyright 2024 The Group</footer></body></html>"""


def test_html_boilerplate_is_dropped_and_admonitions_stay_in_the_text(tmp_path):
    path = tmp_path / "routine-vacuuming.html"
    path.write_text(PAGE_WITH_BOILERPLATE)
    document = parse_document(path)
    assert document.title == "25.1. Routine Vacuuming"
    assert [s.heading for s in document.sections] == ["", "25.1.1. Vacuuming Basics"]  # not repeated, no "Note"
    text = "\n".join(s.body for s in document.sections)
    assert "Note: Plain VACUUM does not lock the table." in text
    assert "Warning: Never kill a running VACUUM." in text
    assert "Prev" not in text and "Next" not in text and "Copyright" not in text and "¶" not in text


def test_sphinx_api_entries_and_glossary_terms_become_sections(tmp_path):
    path = tmp_path / "json.html"
    path.write_text(
        '<html><body><div class="related" role="navigation"><a href="x">index</a> | <a href="y">modules</a></div>'
        '<div class="body" role="main"><section><h1>json — JSON encoder<a class="headerlink">¶</a></h1>'
        '<p>Intro.</p><section><h2>Basic Usage</h2><dl class="py function">'
        '<dt class="sig sig-object py" id="json.dumps"><span class="sig-name">json.dumps</span>(obj)</dt>'
        "<dd><p>Serialize <em>obj</em> to a JSON formatted str.</p></dd></dl>"
        '<dl class="glossary"><dt id="term-codec">codec</dt><dd><p>A mapping between bytes and text.</p></dd></dl>'
        "<p>After the list.</p></section></section></div>"
        '<div class="sphinxsidebar" role="navigation"><p>Previous topic</p></div></body></html>'
    )
    document = parse_document(path)
    assert document.title == "json — JSON encoder"
    headings = {s.heading: s.body for s in document.sections}
    assert headings["Basic Usage › json.dumps"] == "json.dumps(obj)\n\nSerialize obj to a JSON formatted str."
    assert headings["Basic Usage › codec"] == "A mapping between bytes and text."
    assert "After the list." in headings["Basic Usage"]
    assert "index" not in str(document) and "Previous topic" not in str(document)


def test_a_page_of_links_is_an_index_and_is_not_indexed(tmp_path):
    links = "".join(f'<li><a href="p{i}.html">Topic number {i}</a></li>' for i in range(40))
    (tmp_path / "genindex.html").write_text(f"<html><body><h1>Index</h1><ul>{links}</ul></body></html>")
    assert parse_document(tmp_path / "genindex.html").sections == []


def test_markdown_admonition_headings_stay_in_the_body(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(
        "# Guide\n\n## Setup\n\nInstall it.\n\n### Note\n\nIt needs Python 3.11.\n\n> [!TIP]\n> Use a venv.\n"
    )
    document = parse_document(path)
    assert [s.heading for s in document.sections] == ["Setup"]
    assert "Note:\nIt needs Python 3.11." in document.sections[0].body.replace("\n\n", "\n")
    assert "> Tip:" in document.sections[0].body


POLICY = """# Travel policy

## Trains

### Class

Book second class on every train.

## Flights

### Class

Book economy class on flights under six hours.

### Flights baggage

Flights include one checked bag.
"""


async def test_a_short_follow_up_is_read_with_the_previous_question(tmp_path):
    (tmp_path / "policy.md").write_text(POLICY)
    backend = LocalBackend(KnowledgeIndex(tmp_path))
    first = await ask(backend, "which class do I book for trains?")
    assert first.citations[0].heading == "Trains › Class"
    alone = await ask(backend, "and for flights?")
    assert alone.citations[0].heading == "Flights › Flights baggage"  # without the context
    events = [
        e async for e in backend.answer(Question(text="and for flights?", conversation_key="k", state=first.state))
    ]
    follow_up = events[-1]
    assert follow_up.citations[0].heading == "Flights › Class" and "economy" in follow_up.text
    assert follow_up.state["topic"] == "which class do I book for trains?"  # a third turn still has the topic


async def test_metric_questions_are_answered_from_the_glossary(shipped):
    answer = await ask(shipped, "what does normalized entropy mean?")
    assert answer.citations[0].source == "glossary.toml" and answer.citations[0].heading == "Normalized entropy (NE)"
    assert answer.text.startswith("**Normalized entropy (NE)**: Log loss divided by") and "[1]" in answer.text
    assert "explain normalized entropy" in answer.text
    other = await ask(shipped, "what is the port of the bot?")  # not a metric: the documents answer
    assert other.citations[0].source != "glossary.toml"


def test_a_heading_of_rare_words_the_question_lacks_does_not_win_on_one_shared_word(tmp_path):
    # Both hold every word of the question; the API entry's label is mostly rare words the question does
    # not use ("csvreader", "num"), so the section that reads files line by line comes first.
    (tmp_path / "tutorial.md").write_text(
        "# Input and output\n\n## Reading files\n\nTo read a file line by line, loop over the file object.\n"
    )
    (tmp_path / "csv.md").write_text(
        "# CSV file reading\n\n## csvreader.line_num\n\nThe number of lines read from the source iterator.\n"
    )
    for name in ("zebra", "quagga", "okapi", "eland"):  # other documents: "objects" is a common word, "num" rare
        (tmp_path / f"{name}.md").write_text(
            f"# {name}\n\n## {name} objects\n\nA {name} object has methods and a file.\n"
        )
    hits = KnowledgeIndex(tmp_path).search("how do I read a file line by line?")
    assert [hit.path for hit in hits[:2]] == ["tutorial.md", "csv.md"]


def test_a_changelog_page_ranks_below_the_page_that_explains(tmp_path):
    # The same section in a "What's New" page and in the module's own page: the changelog's wording is a
    # little closer to the question, the module's page is the answer.
    (tmp_path / "news.md").write_text(
        "# What's New In Version 2.0\n\n## Zip archives\n\nThe zipfile module can compress files into a zip archive.\n"
    )
    (tmp_path / "zipfile.md").write_text(
        "# zipfile module\n\n## Zip archives\n\n"
        "The ZipFile class can compress files, and read them back, into a zip archive.\n"
    )
    hits = KnowledgeIndex(tmp_path).search("how do I compress files into a zip archive?")
    assert [hit.path for hit in hits] == ["zipfile.md", "news.md"]


def test_a_page_whose_h1s_are_its_sections_is_titled_by_its_title_element(tmp_path):
    # SQLite's documentation (Debian's sqlite3-doc) numbers its sections as <h1>s: "1. Introduction",
    # "2. Syntax"; the page is "Generated Columns". Taking the first <h1> as the title lost the page's name.
    page = tmp_path / "gencol.html"
    page.write_text(
        "<html><head><title>Generated Columns</title></head><body>"
        "<h1>1. Introduction</h1><p>Generated columns are columns computed from other columns.</p>"
        "<h1>2. Syntax</h1><p>GENERATED ALWAYS AS (expr) VIRTUAL or STORED.</p></body></html>",
        encoding="utf-8",
    )
    document = parse_document(page)
    assert document.title == "Generated Columns"
    assert [s.heading for s in document.sections] == ["1. Introduction", "2. Syntax"]
    single = tmp_path / "os.html"
    single.write_text(
        "<html><head><title>os — Python 3.11 documentation</title></head><body>"
        "<h1>os — Miscellaneous operating system interfaces</h1><p>Portable OS functions.</p></body></html>",
        encoding="utf-8",
    )
    assert parse_document(single).title == "os — Miscellaneous operating system interfaces"


def test_an_index_written_by_another_schema_version_is_rebuilt(tmp_path):
    import sqlite3

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Travel\n\nTrains are booked through the portal.\n", encoding="utf-8")
    db = tmp_path / "index.db"
    old = sqlite3.connect(db)  # an index of the version before pages were ranked: files listed, no pages table
    old.executescript(
        "CREATE TABLE files (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER);"
        "CREATE VIRTUAL TABLE passages USING fts5(path UNINDEXED, position UNINDEXED, title, heading, body);"
    )
    stat = (folder / "a.md").stat()
    old.execute("INSERT INTO files VALUES ('a.md', ?, ?)", (stat.st_mtime_ns, stat.st_size))
    old.commit()
    old.close()
    index = KnowledgeIndex(folder, db)
    assert [p.path for p in index.search("how are trains booked")] == ["a.md"]
    index.close()


async def test_a_markdown_table_is_quoted_as_a_table(shipped):
    # docs/architecture.md's table of idempotency states came back as one line of cells and pipes.
    answer = await ask(shipped, "what are the idempotency states?")
    lines = answer.text.splitlines()
    assert "| state | written by | lease | a delivery that finds it |" in lines
    assert any(line.startswith("| `running` |") and line.endswith("|") for line in lines)
    assert "\n\n[1]" in answer.text


async def test_what_does_drift_compare_finds_the_drift_section(shipped):
    # Issue 22: "what does drift compare?" got "I found nothing" though analytics.md has "## drift: did the data
    # change?"; then a table of column kinds that only mentions drift ranked above the drift section.
    answer = await ask(shipped, "what does drift compare?")
    first = answer.citations[0]
    assert first.source == "analytics.md"
    assert first.heading.startswith("drift: did the data change?")


async def test_where_do_the_logs_go_answers_from_the_logs_section_not_the_server_settings(shipped):
    # "go" is a verb of the question, not its topic: its rarity in the docs made it outweigh "logs".
    answer = await ask(shipped, "where do the logs go?")
    first = answer.citations[0]
    assert (first.source, first.heading) == ("operations.md", "Logs")
    assert "LOG_FORMAT" in answer.text


def _backend_over(tmp_path, name: str, text: str) -> LocalBackend:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    return LocalBackend(KnowledgeIndex(folder))


_LIMITS_PAGE = """<html><head><title>Limits In SQLite</title></head><body><main><h1>Limits In SQLite</h1>
<h2>Maximum length of a string or BLOB</h2><p>The maximum length of a string or BLOB is set by these limits:</p>
<table><tr><th>Limit</th><th>Default</th></tr>
<tr><td><p>SQLITE_MAX_LENGTH</p></td><td>1000000000 | bytes</td></tr>
<tr><td>SQLITE_MAX_COLUMN</td><td>2000<br>columns</td></tr></table>
<p>To change them:</p><ul><li>recompile with <code>-DSQLITE_MAX_LENGTH</code>;</li><li>call sqlite3_limit().</li></ul>
<pre>sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1000);
sqlite3_limit(db, SQLITE_LIMIT_COLUMN, 100);</pre></main></body></html>"""


def test_an_html_table_is_indexed_as_a_markdown_table_with_lists_and_code_kept(tmp_path):
    (tmp_path / "limits.html").write_text(_LIMITS_PAGE, encoding="utf-8")
    body = "\n\n".join(s.body for s in parse_document(tmp_path / "limits.html").sections)
    assert "| Limit | Default |\n|---|---|\n| SQLITE_MAX_LENGTH | 1000000000 \\| bytes |\n" in body
    assert "| SQLITE_MAX_COLUMN | 2000 columns |" in body
    assert "- recompile with -DSQLITE_MAX_LENGTH;\n- call sqlite3_limit()." in body
    code = "sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1000);\nsqlite3_limit(db, SQLITE_LIMIT_COLUMN, 100);"
    assert f"```\n{code}\n```" in body


async def test_an_html_table_list_and_code_are_quoted_with_their_structure(tmp_path):
    backend = _backend_over(tmp_path, "limits.html", _LIMITS_PAGE)
    answer = await ask(backend, "what is the maximum length of a string or BLOB?")
    lines = answer.text.splitlines()
    assert lines[lines.index("| Limit | Default |") + 1] == "|---|---|"
    assert "| SQLITE_MAX_LENGTH | 1000000000 \\| bytes |" in lines
    assert "| SQLITE_MAX_COLUMN | 2000 columns |" in lines


async def test_a_long_table_cut_between_passages_keeps_its_header_and_is_quoted_bounded(tmp_path):
    # A table longer than a passage was cut in two: the second half began with bare rows, which the answer
    # joined onto one line of pipes.
    rows = "\n".join(f"| option{i} | sets the retention of the widget cache number {i} in days |" for i in range(120))
    page = f"# Options\n\n## Widget options\n\n| name | meaning |\n|---|---|\n{rows}\n"
    backend = _backend_over(tmp_path, "options.md", page)
    answer = await ask(backend, "which option sets the retention of widget cache number 97?")
    lines = answer.text.splitlines()
    assert lines[:2] == ["| name | meaning |", "|---|---|"], answer.text
    table = [line for line in lines if line.startswith("|")]
    assert all(line.endswith("|") for line in table)
    assert len(table) <= 16 and len(answer.text) <= 1600
    assert table[-1].startswith("| … ") and "more rows" in table[-1]


def _shelf_folder(folder):
    """Two pages say "put away unfinished work" and name it "shelve"; the page on shelves uses only that word;
    a garden page holds more of the question's words and is about something else. Filler pages make the
    shelf words rare, as in a real folder."""
    (folder / "shelving.md").write_text(
        "# Shelving\n\nPut away unfinished work with shelve: the shelf keeps the work until you unshelve it.\n"
    )
    (folder / "guide.md").write_text(
        "# Guide\n\n## Interruptions\n\nTo put away unfinished work, shelve it; unshelve brings the shelf back.\n"
    )
    (folder / "shelves.md").write_text(
        "# Shelf commands\n\nPut away an unfinished shelf: each shelf is listed by shelve list; unshelve restores it.\n"
    )
    (folder / "garden.md").write_text("# Garden\n\nPut the tools away after garden work is unfinished.\n")
    for i in range(80):
        (folder / f"filler{i}.md").write_text(f"# Topic {i}\n\nPage {i} explains a subject of its own, number {i}.\n")


def test_feedback_words_from_the_best_passages_rank_the_page_in_the_documents_own_words(tmp_path, monkeypatch):
    import services.knowledge as knowledge

    _shelf_folder(tmp_path)
    monkeypatch.setattr(knowledge, "WEIGHTS", {**knowledge.WEIGHTS, "expansion": 1.0})
    index = KnowledgeIndex(tmp_path)
    index.refresh(force=True)
    query = index.parse_query("how do I put away unfinished work?")
    by_path = {p.path: p for p in index.candidates(query)}
    assert by_path["shelves.md"].features["expansion"] > by_path["garden.md"].features["expansion"] == 0.0
    assert by_path["garden.md"].coverage == by_path["shelves.md"].coverage == 1.0  # the question's own words
    monkeypatch.setattr(knowledge, "WEIGHTS", {**knowledge.WEIGHTS, "expansion": 0.0})
    plain = [p.path for p in index.search_query(query, 5)]
    assert plain.index("garden.md") < plain.index("shelves.md")
    monkeypatch.setattr(knowledge, "WEIGHTS", {**knowledge.WEIGHTS, "expansion": 1.0})
    expanded = [p.path for p in index.search_query(query, 5)]
    assert expanded.index("shelves.md") < expanded.index("garden.md")


def test_feedback_fetches_a_passage_the_first_pass_left_out(tmp_path, monkeypatch):
    import services.knowledge as knowledge

    _shelf_folder(tmp_path)
    for name, value in [("CANDIDATES", 3), ("HEADING_CANDIDATES", 0), ("PAGE_PASSAGES", 0), ("NAME_PAGES", 0)]:
        monkeypatch.setattr(knowledge, name, value)
    monkeypatch.setattr(knowledge, "WEIGHTS", {**knowledge.WEIGHTS, "expansion": 1.0})
    index = KnowledgeIndex(tmp_path)
    index.refresh(force=True)
    query = index.parse_query("how do I put away unfinished work?")
    assert "shelves.md" in {p.path for p in index.candidates(query, 3)}
    monkeypatch.setattr(knowledge, "WEIGHTS", {**knowledge.WEIGHTS, "expansion": 0.0})  # no feedback pass
    assert "shelves.md" not in {p.path for p in index.candidates(query, 3)}
    monkeypatch.setattr(knowledge, "WEIGHTS", {**knowledge.WEIGHTS, "expansion": 1.0})
    monkeypatch.setattr(knowledge, "FEEDBACK_TERMS", 0)
    assert "shelves.md" not in {p.path for p in index.candidates(query, 3)}


async def test_feedback_does_not_turn_an_unrelated_question_into_an_answer(tmp_path, monkeypatch):
    import services.knowledge as knowledge

    _shelf_folder(tmp_path)
    monkeypatch.setattr(knowledge, "WEIGHTS", {**knowledge.WEIGHTS, "expansion": 1.0})
    answer = await ask(LocalBackend(KnowledgeIndex(tmp_path)), "how do I file an unfinished expense report?")
    assert answer.citations == [] and "found nothing" in answer.text


def test_page_kind_features_come_from_the_page_itself(tmp_path):
    from services.knowledge import LONG_PAGE, code_share

    assert code_share(["Text line\n```\ncode\n```", "more text"]) == pytest.approx(10 / 28)
    assert code_share([]) == 0.0
    sections = "".join(f"## Part {i}\n\nThe manual explains widgets in part {i}.\n\n" for i in range(LONG_PAGE))
    (tmp_path / "manual.md").write_text("# Manual\n\n" + sections)
    (tmp_path / "api.md").write_text("# Widget API\n\nWidgets:\n\n```\nwidget_new(int size)\n```\n")
    by_path = {p.path: p.features for p in KnowledgeIndex(tmp_path).search("widgets", 200)}
    assert by_path["manual.md"]["long_page"] == 1.0 and by_path["api.md"]["long_page"] == 0.0
    assert by_path["api.md"]["code_page"] > 0.5 and by_path["manual.md"]["code_page"] == 0.0

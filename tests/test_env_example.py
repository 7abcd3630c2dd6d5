""".env.example lists every setting with its default, so it cannot drift from services/settings.py."""

from __future__ import annotations

import re

from dotenv import dotenv_values

from services.settings import REPO_ROOT, Settings

EXAMPLE = REPO_ROOT / ".env.example"
COMMENTED = re.compile(r"^#\s*([A-Z][A-Z0-9_]*)=(\S*)", re.M)  # a setting whose default is not a fixed value


def test_env_example_has_every_setting_and_nothing_else():
    text = EXAMPLE.read_text()
    named = set(dotenv_values(EXAMPLE)) | {name for name, _ in COMMENTED.findall(text)}
    assert named == {name.upper() for name in Settings.model_fields}


def test_env_example_values_are_the_defaults():
    defaults = Settings(_env_file=None)
    from_example = Settings(_env_file=EXAMPLE)
    assert from_example.model_dump() == defaults.model_dump()
    commented = dict(COMMENTED.findall(EXAMPLE.read_text()))
    assert REPO_ROOT / commented["KNOWLEDGE_DIR"] == defaults.knowledge_dir

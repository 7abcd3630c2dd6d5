"""Backends declare what they can do; generic code never picks behaviour by a backend's name (issue 20)."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from services.backends import Capabilities
from services.backends.registry import HELPERS, UnknownBackend, backend_type, known_types
from services.errors import Backoff, aws_error_code, describe_error, scrub_message
from services.settings import REPO_ROOT

GENERIC = ("bot", "handlers", "services", "entrypoints")


def _own_files() -> set[str]:
    """The files that belong to one backend type: its module or package, and its Teams extras module."""
    own: set[str] = set()
    for name in known_types():
        module = name.replace("-", "_")
        own |= {f"services/backends/{module}.py", f"services/backends/{module}/"}
        hook = backend_type(name).teams_extras
        if hook:
            own.add(hook.partition(":")[0].replace(".", "/") + ".py")
    return own


def test_no_generic_module_names_a_backend_or_probes_it():
    names = "|".join(re.escape(n) for n in [*known_types(), "scripted"])
    by_name = re.compile(rf"""(["'])({names})\1""")
    probe = re.compile(r"""\b(?:getattr|hasattr)\(\s*backend\b(?!,\s*"capabilities")""")
    own = _own_files()
    found = []
    for folder in GENERIC:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if any(relative == o or (o.endswith("/") and relative.startswith(o)) for o in own):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if relative == "services/settings.py" and line.strip().startswith("backend: str ="):
                    continue  # the default type of the BACKEND setting
                if relative == "services/analytics/engine.py" and line.startswith("ENGINES = "):
                    continue  # the analytics engines ("local" and "spark"), not backends
                if relative == "services/settings.py" and line.strip().startswith("analytics_engine:"):
                    continue  # the ANALYTICS_ENGINE setting's engines
                if by_name.search(line) or probe.search(line):
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []


def test_the_grep_finds_what_it_is_meant_to_find(tmp_path):
    """The test above is not vacuous: the lines the capability step removed are caught by its patterns."""
    names = "|".join(re.escape(n) for n in known_types())
    by_name = re.compile(rf"""(["'])({names})\1""")
    probe = re.compile(r"""\b(?:getattr|hasattr)\(\s*backend\b(?!,\s*"capabilities")""")
    removed = [
        'RETRIEVAL_BACKENDS = frozenset({"local"})',
        'if question and backend.name != "local":',
        'model_id=getattr(backend, "model_id", "")',
        'send = getattr(backend, "send_feedback", None)',
        'if hasattr(backend, "forget"):',
        'answer_tokens=settings.bedrock_max_tokens if settings.backend == "bedrock" else 1024,',
        'attachments_for=files if settings.backend == "qbusiness" else None,',
    ]
    assert all(by_name.search(line) or probe.search(line) for line in removed)


def test_backend_types_are_found_not_listed():
    assert {"bedrock", "local", "qbusiness"} <= set(known_types())
    assert not set(known_types()) & HELPERS
    with pytest.raises(UnknownBackend) as unknown:
        backend_type("magic")
    assert "magic" in str(unknown.value) and "bedrock" in str(unknown.value) and "\n" not in str(unknown.value)


def test_every_backend_declares_its_capabilities(make_settings):
    from services.backends.bedrock import BedrockBackend, BedrockConfig
    from services.backends.qbusiness import QBusinessBackend, QBusinessConfig

    local = backend_type("local").create(make_settings(), None, "docs")
    bedrock = BedrockBackend(BedrockConfig(model_id="m.test-v1", region="eu-west-1", max_tokens=700), name="kb")
    qbusiness = QBusinessBackend(QBusinessConfig("a" * 36, region="eu-west-1", identity="anonymous"))
    assert local.name == "docs" and not local.capabilities.generated and not local.capabilities.acts_as_user
    assert bedrock.name == "kb" and bedrock.capabilities.generated and bedrock.capabilities.model_id == "m.test-v1"
    assert bedrock.capabilities.answer_tokens == 700 and bedrock.capabilities.streams_text
    assert qbusiness.capabilities.feedback and qbusiness.capabilities.attachments is not None
    assert not qbusiness.capabilities.acts_as_user  # anonymous: asks as the gateway
    assert all(isinstance(b.capabilities, Capabilities) for b in (local, bedrock, qbusiness))


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Converse")


def test_one_aws_error_code_and_a_scrubbed_truncated_message():
    error = _client_error("ThrottlingException", "Rate exceeded for 'my secret question'")
    assert aws_error_code(error) == "throttlingexception" and aws_error_code(ValueError("x")) == ""
    described = describe_error(error)
    assert described.startswith("ClientError ThrottlingException: Rate exceeded") and "secret" not in described
    assert "don't" in scrub_message("You don't have access to the model")  # an apostrophe is not a quote
    long = scrub_message("x " * 500)
    assert len(long) <= 121 and long.endswith("…")


def test_backoff_retries_only_retryable_codes_within_attempts_and_deadline():
    import time

    policy = Backoff(frozenset({"throttlingexception"}), base=0.25, max_attempts=3)
    busy, invalid = _client_error("ThrottlingException", ""), _client_error("ValidationException", "")
    far = time.monotonic() + 60
    assert policy.delay(busy, 1, far) == 0.5 and policy.delay(busy, 2, far) == 1.0
    assert policy.delay(busy, 3, far) is None  # attempts used up
    assert policy.delay(invalid, 1, far) is None
    assert policy.delay(busy, 1, time.monotonic() + 0.4) is None  # the wait would pass the deadline
    assert policy.delay(busy, 1, time.monotonic() + 1.0, floor=0.6) is None  # no time left for the attempt


async def test_a_pending_kind_no_extras_show_leaves_the_answer_standing(start_bot, caplog):
    """The chat handler knows no pending kind: an answer whose `pending` no backend type's hook registered is
    shown as it is, and the operator is told (Q Business's kinds are shown by its hook, tests/test_qbusiness*)."""
    from tests.conftest import ScriptedBackend

    class Pending(ScriptedBackend):
        async def answer(self, question):
            async for event in super().answer(question):
                yield event.model_copy(update={"pending": {"kind": "mystery"}}) if event.kind == "final" else event

    bot = await start_bot(Pending("Here is the answer."))
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    (reply,) = [m for m in bot.connector.messages() if "Here is the answer." in json.dumps(m.body)]
    assert "left a pending 'mystery' that no Teams extras show" in caplog.text and reply

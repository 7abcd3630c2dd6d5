"""Privacy in logs (issue 10): at DEBUG, a whole conversation through /api/messages, with a signed request, a file,
a card action and failures, on the local and the Bedrock (loopback fake) backends; no line of any logger may
carry the bearer token, the app password, the user's text or name, the file's name or content."""

from __future__ import annotations

import logging

import pytest

from services.observability.start import start_observability
from tests.fakes.bedrock import Failure
from tests.observability_canaries import (
    APP_PASSWORD,
    EMAIL,
    FILE_NAME,
    USER_NAME,
    USER_TEXT,
    leaks,
    restore_logging,  # noqa: F401 - a fixture
)
from tests.test_auth import APP_ID, OUTGOING_TOKEN, FixedTokenFactory, OpenIdServer, mint
from tests.test_bedrock import MODEL, bedrock  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("restore_logging", "observability")

FILE_ROWS = "label,p,note\n" + "".join(f"{i % 2},{(i % 10) / 10},CanaryCellValue{i}\n" for i in range(40))
TEXT_WITH_ADDRESS = f"{USER_TEXT} (mail me at {EMAIL})"


async def _converse(bot, token: str) -> None:
    channel = bot.channel(user_name=USER_NAME)
    headers = {"Authorization": f"Bearer {token}"}
    url = bot.connector.serve_file(FILE_NAME, FILE_ROWS.encode()) + "?tempauth=CanaryTempAuthValue"
    activities = [
        channel.message(TEXT_WITH_ADDRESS),
        channel.with_file(channel.message("metrics y_true=label y_score=p"), FILE_NAME, url),
        channel.with_file(channel.message("metrics y_true=nolabel y_score=p"), FILE_NAME, url),  # a clear error
        channel.execute("feedback", {"reaction": USER_TEXT, "comment": USER_TEXT}),  # fails: unknown reaction
        channel.submit({"verb": "feedback", "reaction": "like", "comment": TEXT_WITH_ADDRESS}),
    ]
    for activity in activities:
        response = await bot.post(activity, headers)
        assert response.status == 200, await response.text()
        await bot.settle()


async def _check(bot, caplog, capsys, token: str) -> None:
    out = capsys.readouterr()
    lines = [*caplog.text.splitlines(), *out.out.splitlines(), *out.err.splitlines()]
    assert any('"logger": "gateway.turns"' in line for line in out.err.splitlines()), "JSON lines on stderr"
    assert logging.getLogger("handlers.app").getEffectiveLevel() == logging.DEBUG, "the test must run at DEBUG"
    assert leaks(lines) == {}
    for secret in (token.split(".")[2], OUTGOING_TOKEN, APP_PASSWORD):
        assert not [line for line in lines if secret in line]
    replies = [call.body.get("text", "") for call in bot.connector.messages()]
    assert any("(reference " in text for text in replies), "a failure must be part of the conversation"


@pytest.fixture
def observability(make_settings, caplog) -> None:
    """Logging as `make run` starts it, at DEBUG in JSON (the lines go to stderr, captured by capsys)."""
    settings = make_settings(log_level="DEBUG", log_format="json", microsoft_app_id=APP_ID,
                             microsoft_app_password=APP_PASSWORD)  # fmt: skip
    start_observability(settings, "server")
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def secured(start_bot):
    async def start(**overrides):
        with OpenIdServer() as openid:
            bot = await start_bot(
                credentials_factory=FixedTokenFactory(), microsoft_app_id=APP_ID,
                microsoft_app_password=APP_PASSWORD, bot_openid_metadata_url=openid.url, **overrides,
            )  # fmt: skip
            token = mint(bot.connector.url)
            await _converse(bot, token)
        return bot, token

    return start


async def test_no_secret_or_user_content_in_any_log_line_local_backend(secured, caplog, capsys):
    bot, token = await secured()
    await _check(bot, caplog, capsys, token)


async def test_no_secret_or_user_content_in_any_log_line_bedrock_backend(secured, bedrock, caplog, capsys):  # noqa: F811
    bedrock.tokens = [f"Answer about {USER_TEXT}"]  # the model repeats the question
    bot, token = await secured(
        backend="bedrock", bedrock_model_id=MODEL, bedrock_region="eu-west-1", bedrock_max_attempts=1
    )
    bedrock.failures = [Failure(500, "InternalServerException", f"cannot process {USER_TEXT}")]
    response = await bot.post(bot.channel(user_name=USER_NAME).message(USER_TEXT), {"Authorization": f"Bearer {token}"})
    assert response.status == 200
    await bot.settle()
    assert "(reference " in bot.connector.messages()[-1].body["text"]  # the backend failure was told
    await _check(bot, caplog, capsys, token)

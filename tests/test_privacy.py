"""Privacy in logs (issue 10): at DEBUG, a whole conversation through /api/messages, with a signed request, a file,
a card action and failures, on the local, the Bedrock, the Amazon Q Business, the AgentCore and the Bedrock Agents
(loopback fakes) backends; no line of any logger may carry the bearer token, the app password, the user's Entra
token, the user's text or name, the file's name or content."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet

from services.observability.start import start_observability
from tests.fakes.bedrock import Failure
from tests.fakes.sso_oauth import FakeSsoOauth
from tests.fakes.sts import FakeSts
from tests.observability_canaries import (
    APP_PASSWORD,
    EMAIL,
    FILE_NAME,
    USER_NAME,
    USER_TEXT,
    leaks,
    restore_logging,  # noqa: F401 - a fixture
)
from tests.test_agentcore import agentcore  # noqa: F401 - a fixture
from tests.test_auth import APP_ID, OUTGOING_TOKEN, FixedTokenFactory, OpenIdServer, mint
from tests.test_bedrock import MODEL, bedrock  # noqa: F401 - a fixture
from tests.test_bedrock_agent import agent  # noqa: F401 - a fixture
from tests.test_qbusiness import APP, aws  # noqa: F401 - a fixture
from tests.test_qbusiness_teams import token_service  # noqa: F401 - a fixture

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
        channel.execute("feedback", {"reaction": "like", "comment": USER_TEXT}),  # fails: see below
        channel.submit({"verb": "feedback", "reaction": "like", "comment": TEXT_WITH_ADDRESS}),
    ]
    store, add_feedback = bot.gateway.store, bot.gateway.store.add_feedback

    async def failing(feedback):  # a failure whose traceback carries the user's text
        if feedback.comment == USER_TEXT:
            raise ValueError(f"cannot store feedback {feedback.comment!r}")
        return await add_feedback(feedback)

    store.add_feedback = failing
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


ENTRA_TOKEN = "CanaryEntraUserToken.eyJ1c2VyIjoiY2FuYXJ5In0.Q2FuYXJ5RW50cmFTaWc"


async def test_no_secret_or_user_content_in_any_log_line_qbusiness_backend(secured, aws, token_service, caplog, capsys):  # noqa: F811
    qbusiness, oidc, _ = aws
    oidc.users[ENTRA_TOKEN] = "canaria"  # the user's Entra token, exchanged in IAM Identity Center
    qbusiness.answer = f"Answer about {USER_TEXT}"  # Q repeats the question
    token_service.tokens = {"29:1-emulator-user": ENTRA_TOKEN}  # the user signed in to the OAuth connection
    bot, token = await secured(
        backend="qbusiness", qbusiness_application_id=APP, qbusiness_region="us-east-1", qbusiness_identity="idc",
        qbusiness_oauth_connection="entra", qbusiness_idc_application_arn=FakeSsoOauth.client_id,
        qbusiness_role_arn=FakeSts.role_arn, credentials_key=Fernet.generate_key().decode(),
        bot_token_service_url=token_service.url, download_allowed_hosts="*.sharepoint.com,http://127.0.0.1",
        qbusiness_timeout_seconds=2.0,
    )  # fmt: skip
    assert any(r.get("user") == "canaria" for r in qbusiness.requests), "Q must have answered as the user"
    headers = {"Authorization": f"Bearer {token}"}
    channel = bot.channel(user_name=USER_NAME)
    url = bot.connector.serve_file(FILE_NAME, FILE_ROWS.encode()) + "?tempauth=CanaryTempAuthValue"
    with_file = channel.with_file(channel.message(TEXT_WITH_ADDRESS), FILE_NAME, url)  # a chat question with a file
    assert (await bot.post(with_file, headers)).status == 200
    await bot.settle()
    assert any(a.get("name") == FILE_NAME for r in qbusiness.requests for a in r.get("attachments") or [])
    # Fails for good: QBUSINESS_TIMEOUT_SECONDS=2 leaves time for two retries (0.5 s and 1 s), not a third.
    qbusiness.failures = [Failure(500, "InternalServerException", f"cannot process {USER_TEXT}")] * 3
    assert (await bot.post(channel.message(USER_TEXT), headers)).status == 200
    await bot.settle()
    assert "(reference " in bot.connector.messages()[-1].body["text"]  # the backend failure was told
    await _check(bot, caplog, capsys, token)
    lines = [*caplog.text.splitlines()]
    assert not [line for line in lines if "CanaryEntra" in line or "Q2FuYXJ5RW50cmFTaWc" in line]


async def test_no_secret_or_user_content_in_any_log_line_agentcore(secured, token_service, agentcore, caplog, capsys):  # noqa: F811
    from tests.fakes.agentcore import strands_events
    from tests.test_agentcore import ARN

    agentcore.bearer = ENTRA_TOKEN  # an agent with a JWT authoriser: called with the user's own token
    agentcore.chunks = strands_events([f"Answer about {USER_TEXT}"], input_tokens=9, output_tokens=3)
    token_service.tokens = {"29:1-emulator-user": ENTRA_TOKEN}
    bot, token = await secured(
        backend="agentcore", agentcore_runtime_arn=ARN, agentcore_auth="oauth", agentcore_oauth_connection="entra",
        bot_token_service_url=token_service.url, agentcore_max_attempts=1,
    )  # fmt: skip
    assert agentcore.requests[0]["payload"]["prompt"] == TEXT_WITH_ADDRESS, "the agent must have been asked"
    agentcore.failures = [Failure(500, "InternalServerException", f"cannot process {USER_TEXT}")]
    assert (
        await bot.post(bot.channel(user_name=USER_NAME).message(USER_TEXT), {"Authorization": f"Bearer {token}"})
    ).status == 200
    await bot.settle()
    assert "(reference " in bot.connector.messages()[-1].body["text"]
    await _check(bot, caplog, capsys, token)
    assert not [line for line in caplog.text.splitlines() if "CanaryEntra" in line or "Q2FuYXJ5RW50cmFTaWc" in line]


async def test_no_secret_or_user_content_in_any_log_line_bedrock_agent_backend(secured, caplog, capsys, agent):  # noqa: F811
    from tests.fakes.bedrock_agent import citation, function_control, reference

    agent.prompt_text = f"Human: {USER_TEXT}"  # traces carry the prompt: never logged
    agent.chunks = [f"Answer about {USER_TEXT}"]
    agent.citations = {0: [citation("Answer", reference(USER_TEXT, "s3://hr/canary.pdf"))]}
    agent.usage = (50, 5)
    bot, token = await secured(
        backend="bedrock-agent", bedrock_agent_id="AGENT12345", bedrock_agent_alias_id="ALIAS12345"
    )
    headers = {"Authorization": f"Bearer {token}"}
    channel = bot.channel(user_name=USER_NAME)
    agent.return_control = function_control("inv-9", "book_leave", {"note": ("string", USER_TEXT)})
    assert (await bot.post(channel.message(USER_TEXT), headers)).status == 200
    await bot.settle()
    review = bot.connector.messages()[-1].body["attachments"][0]["content"]
    confirm = review["actions"][0]
    assert (
        await bot.post(channel.execute(confirm["verb"], {**confirm["data"], "field_a0_note": USER_TEXT}), headers)
    ).status == 200
    await bot.settle()
    assert "returnControlInvocationResults" in str(agent.requests[-1])
    agent.failures = [Failure(400, "ValidationException", f"cannot process {USER_TEXT}")]
    assert (await bot.post(channel.message(USER_TEXT), headers)).status == 200
    await bot.settle()
    assert "(reference " in bot.connector.messages()[-1].body["text"]
    await _check(bot, caplog, capsys, token)


QUOTED_FRAGMENT = "merger plan with Northwind"
QUESTION_WITH_FRAGMENT = f"Please summarise the secret {QUOTED_FRAGMENT} for next quarter"


@pytest.mark.parametrize(
    "message",
    [
        f"Value '{QUOTED_FRAGMENT}' at 'messages.1.member.content' failed to satisfy constraint",
        f'Malformed input request: "{QUOTED_FRAGMENT} for next',  # an unclosed quote runs to the end
        f"The input text: {QUOTED_FRAGMENT} violates the content policy",
    ],
)
async def test_an_aws_error_quoting_the_question_does_not_put_it_in_the_logs(
    start_bot,
    bedrock,  # noqa: F811 - the fixture
    caplog,
    capsys,
    message,
):
    """Issue 19 item 17: AWS echoes parts of the request in its messages; the logs get the code and a scrubbed,
    truncated message (services/errors.py describe_error), in the warning, the failure's detail and traceback."""
    bot = await start_bot(backend="bedrock", bedrock_model_id=MODEL, bedrock_region="eu-west-1",
                          bedrock_max_attempts=1)  # fmt: skip
    bedrock.failures = [Failure(400, "ValidationException", message)]
    await bot.post(bot.channel(user_name=USER_NAME).message(QUESTION_WITH_FRAGMENT))
    await bot.settle()
    assert "(reference " in bot.connector.messages()[-1].body["text"]
    out = capsys.readouterr()
    text = "\n".join([caplog.text, out.out, out.err])
    assert "ValidationException" in text  # the code is logged...
    assert "Northwind" not in text  # ...but not what the user wrote

"""Several named backends in one deployment: the route table, its start-up checks, `agents` and `use`, and the
backend's name in answers, usage and the audit (issue 20, "Several backends, routed")."""

from __future__ import annotations

import json

import pytest

from services.routing import Where, create_deployment, load_route_table, parse_route_table
from services.settings import SettingsError
from services.usage.sqlite import SQLiteUsageStore

HANDBOOK = (
    "# Annual leave\n\nEvery employee gets thirty days of annual leave per calendar year, booked in the HR tool.\n"
)
TRAVEL = "# Train travel\n\nTrains are booked in second class; first class needs the approval of a director.\n"


def _table(tmp_path, rules: str = "", choosable: str = '["handbook", "travel"]') -> str:
    (tmp_path / "handbook").mkdir(exist_ok=True)
    (tmp_path / "handbook" / "leave.md").write_text(HANDBOOK)
    (tmp_path / "travel").mkdir(exist_ok=True)
    (tmp_path / "travel" / "trains.md").write_text(TRAVEL)
    return f"""
default = "handbook"
choosable = {choosable}

[backends.handbook]
type = "local"
title = "Handbook"
settings = {{ knowledge_dir = "{tmp_path / "handbook"}" }}

[backends.travel]
type = "local"
title = "Travel desk"
description = "trains, flights and hotels"
settings = {{ knowledge_dir = "{tmp_path / "travel"}" }}
{rules}
"""


def _write(tmp_path, text: str, name: str = "routes.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('default = "nope"\n[backends.a]\ntype = "local"\n', "default names the unknown backend 'nope'"),
        ('default = "a"\nchoosable = ["b"]\n[backends.a]\ntype = "local"\n', "choosable names the unknown backend"),
        ('default = "a"\n[backends.a]\ntype = "local"\n[[routes]]\nbackend = "x"\nteam = "t"\n',
         "routes[0].backend names the unknown backend 'x'"),
        ('default = "a"\n[backends.a]\ntype = "local"\ncolour = "red"\n', "backends.a.colour"),
        ('default = "A B"\n[backends."A B"]\ntype = "local"\n', "must be 1-32 lower-case letters"),
        ("default = ", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_route_table_is_refused_with_one_line(text, expected):
    with pytest.raises(SettingsError) as refused:
        parse_route_table(text, "ROUTES_FILE")
    message = str(refused.value)
    assert message.startswith("Invalid setting ROUTES_FILE:") and expected in message and "\n" not in message


def test_start_up_refuses_an_unknown_type_or_missing_settings_with_one_line(make_settings, tmp_path):
    unknown = _write(tmp_path, 'default = "a"\n[backends.a]\ntype = "magic"\n')
    with pytest.raises(SettingsError) as refused:
        create_deployment(make_settings(routes_file=unknown))
    assert str(refused.value).startswith("Invalid setting ROUTES_FILE: backend 'a': BACKEND: unknown backend type")
    assert "\n" not in str(refused.value)
    missing = _write(tmp_path, 'default = "kb"\n[backends.kb]\ntype = "bedrock"\n', "missing.toml")
    with pytest.raises(SettingsError) as refused:
        create_deployment(make_settings(routes_file=missing))
    assert str(refused.value).startswith("Invalid setting ROUTES_FILE: backend 'kb': BEDROCK_MODEL_ID: required")
    shared = _write(
        tmp_path, 'default = "a"\n[backends.a]\ntype = "local"\nsettings = {store = "dynamodb"}\n', "s.toml"
    )
    with pytest.raises(SettingsError, match="STORE is set for the whole deployment"):
        create_deployment(make_settings(routes_file=shared))
    with pytest.raises(SettingsError, match="ROUTES_FILE: cannot read"):
        load_route_table(make_settings(routes_file=tmp_path / "absent.toml"))


def test_each_named_backend_gets_the_global_settings_with_its_own_on_top(make_settings, tmp_path):
    path = _write(tmp_path, _table(tmp_path))
    deployment = create_deployment(make_settings(routes_file=path))
    assert list(deployment.backends) == ["handbook", "travel"] and set(deployment.types.values()) == {"local"}
    assert deployment.backends["travel"].index.folder == tmp_path / "travel"
    assert deployment.backends["handbook"].index.folder == tmp_path / "handbook"


def test_route_precedence_choice_then_the_most_specific_rule_then_the_default():
    table = parse_route_table(
        """
default = "a"
choosable = ["a", "b", "c"]
[backends.a]
type = "local"
[backends.b]
type = "local"
[backends.c]
type = "local"
[backends.d]
type = "local"
[[routes]]
backend = "b"
tenant = "t1"
[[routes]]
backend = "c"
team = "team1"
[[routes]]
backend = "d"
channel = "19:ch@thread.tacv2;messageid=1"
[[routes]]
backend = "c"
tenant = "t1"
chat_type = "personal"
""",
        "ROUTES_FILE",
    )
    assert table.route(Where(tenant="t0", chat_type="personal")) == "a"  # nothing matches: the default
    assert table.route(Where(tenant="t1", chat_type="groupChat")) == "b"  # the tenant's rule
    assert table.route(Where(tenant="t1", chat_type="personal")) == "c"  # tenant + chat type beats tenant
    assert table.route(Where(tenant="t1", team="team1", chat_type="channel")) == "c"  # the team beats the tenant
    channel = Where(tenant="t1", team="team1", channel="19:ch@thread.tacv2", chat_type="channel")
    assert table.route(channel) == "d"  # the channel beats the team (a rule's thread id is ignored)
    assert table.route(channel, chosen="b") == "b"  # the user's choice beats every rule...
    assert table.route(channel, chosen="d") == "d" and table.route(Where(), chosen="d") == "a"  # ...if allowed
    assert table.route(Where(), chosen="gone") == "a"  # a choice whose backend left the table


def test_a_json_route_table_is_read_too(make_settings, tmp_path):
    document = {"default": "a", "backends": {"a": {"type": "local"}}, "routes": [{"backend": "a", "tenant": "t"}]}
    path = _write(tmp_path, json.dumps(document), "routes.json")
    assert load_route_table(make_settings(routes_file=path)).names == ["a"]


def texts(bot) -> list[str]:
    """The replies, each as its whole JSON (the text of a message, or of the card a channel answer is)."""
    return [json.dumps(call.body, ensure_ascii=False) for call in bot.connector.messages()]


async def say(bot, channel, text: str) -> str:
    assert (await bot.post(channel.message(text))).status == 200
    await bot.settle()
    return texts(bot)[-1]


async def test_two_named_backends_end_to_end_routed_listed_switched_and_counted(start_bot, tmp_path):
    rules = '[[routes]]\nbackend = "travel"\nchat_type = "channel"\n'
    bot = await start_bot(routes_file=_write(tmp_path, _table(tmp_path, rules)))
    personal = bot.channel("personal")
    answer = await say(bot, personal, "how many days of annual leave do I get?")
    assert "thirty days" in answer and "Answered by **Handbook**" in answer
    channel = bot.channel("channel")
    answer = await say(bot, channel, "which class for train travel?")
    assert "second class" in answer and "Answered by **Travel desk**" in answer

    listing = await say(bot, personal, "agents")
    assert "`handbook`: **Handbook**" in listing and "← answers now" in listing
    assert "`travel`: **Travel desk**, trains, flights and hotels" in listing
    assert "There is no assistant called nope" in await say(bot, personal, "use nope")
    key = personal.message("x")["conversation"]["id"]  # a personal chat's conversation key
    assert (await bot.gateway.store.load_conversation(key)).state.get("backend") == "handbook"
    switched = await say(bot, personal, "use travel")
    assert "Now **Travel desk** answers in this chat" in switched and "new conversation" in switched
    assert (await bot.gateway.store.load_conversation(key)).state == {}  # a fresh context
    answer = await say(bot, personal, "which class for train travel?")
    assert "second class" in answer and "Answered by **Travel desk**" in answer
    assert "already answers" in await say(bot, personal, "use travel")
    await say(bot, personal, "new")  # a new conversation keeps the choice
    assert "Answered by **Travel desk**" in await say(bot, personal, "which class for train travel?")

    store = SQLiteUsageStore(tmp_path / "state.db")
    try:
        tallies = {(r.dimension, r.key): r.tally for r in await store.rows("2000-01-01", "2999-12-31")}
    finally:
        await store.close()
    assert tallies[("backend", "handbook")].turns == 1 and tallies[("backend", "travel")].turns == 3
    records = [json.loads(line) for path in (tmp_path / "audit").glob("*.jsonl") for line in path.open()]
    assert sorted(r["backend"] for r in records) == ["handbook", "travel", "travel", "travel"]


async def test_without_choosable_backends_there_is_no_use_command(start_bot, tmp_path):
    bot = await start_bot(routes_file=_write(tmp_path, _table(tmp_path, choosable="[]")))
    reply = await say(bot, bot.channel("personal"), "use travel")
    assert "Answered by **Handbook**" in reply  # an ordinary question, answered by the default
    assert "`use" not in await say(bot, bot.channel("personal"), "help")


def test_the_usage_card_breaks_cost_down_by_backend():
    from handlers.usage import usage_card
    from services.usage.report import build_report
    from services.usage.store import Tally, UsageRow

    rows = [
        UsageRow("2026-12-01", "model", "m1", Tally(10, 5, 0, 0, 2_000_000, turns=2)),
        UsageRow("2026-12-01", "backend", "hr-agent", Tally(6, 3, 0, 0, 1_500_000, turns=1)),
        UsageRow("2026-12-01", "backend", "docs", Tally(4, 2, 0, 0, 500_000, turns=1)),
    ]
    report = build_report(rows, "2026-12-01", "2026-12-01")
    assert [key for key, _ in report.by_backend] == ["hr-agent", "docs"]
    card = json.dumps(usage_card(report, b""))
    assert "Backends (top 2 of 2)" in card and "hr-agent" in card and "$1.50" in card


def test_the_route_table_is_read_from_s3_on_aws(make_settings, tmp_path, monkeypatch):
    import boto3

    from tests.aws import aws_environment, moto_server

    with moto_server() as url:
        for name, value in aws_environment(url).items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="routes")
        s3.put_object(Bucket="routes", Key="gateway/routes.toml", Body=_table(tmp_path).encode())
        table = load_route_table(make_settings(routes_s3_uri="s3://routes/gateway/routes.toml"))
        assert table.names == ["handbook", "travel"] and table.title("travel") == "Travel desk"
        with pytest.raises(SettingsError) as refused:
            load_route_table(make_settings(routes_s3_uri="s3://routes/absent.toml"))
        assert str(refused.value).startswith("Invalid setting ROUTES_S3_URI: cannot read it (") and "NoSuchKey" in str(
            refused.value
        )
    with pytest.raises(SettingsError, match="must be s3://<bucket>/<key>"):
        load_route_table(make_settings(routes_s3_uri="routes/gateway.toml"))


def test_every_function_that_builds_the_worker_or_the_ingress_may_read_only_the_route_table_object():
    from tests.cfn import load_template

    template = load_template()
    route_object = {"Fn::Sub": "arn:${AWS::Partition}:s3:::${RoutesBucket}/${RoutesKey}"}
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["ROUTES_S3_URI"] == {"Fn::If": ["HasRoutes", {"Fn::Sub": "s3://${RoutesBucket}/${RoutesKey}"}, ""]}
    for function in ("IngressFunction", "ChatWorkerFunction", "AnalyticsWorkerFunction", "DeadLetterFunction"):
        statements = template["Resources"][function]["Properties"]["Policies"][0]["Statement"]
        reads = [s["Fn::If"][1] for s in statements if "Fn::If" in s and s["Fn::If"][0] == "HasRoutes"]
        assert reads == [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": route_object}], function


@pytest.mark.parametrize(
    ("text", "json_text", "expected"),
    [
        ('default = "a"\nx = ' + "[" * 5000 + "]" * 5000, False, "nested too deeply"),
        ('{"default": "a", "x": ' + "[" * 50000 + "]" * 50000 + "}", True, "nested too deeply"),
        ('{"default": "a", "backends": {"a": {"type": "local"}, "a": {"type": "bedrock"}}}', True,
         "the key 'a' is given twice"),
    ],
)  # fmt: skip
def test_deep_nesting_and_duplicate_json_keys_are_refused_with_one_line(text, json_text, expected):
    with pytest.raises(SettingsError) as refused:
        parse_route_table(text, "ROUTES_FILE", json_text=json_text)
    message = str(refused.value)
    assert message.startswith("Invalid setting ROUTES_FILE:") and expected in message and "\n" not in message


def test_a_huge_or_non_utf8_route_file_is_refused_with_one_line(make_settings, tmp_path):
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b'default = "a"\n#' + b"x" * (4 * 1024 * 1024))
    with pytest.raises(SettingsError, match="over 256 KB"):
        load_route_table(make_settings(routes_file=str(huge)))
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'default = "caf\xe9"\n')
    with pytest.raises(SettingsError, match="is not UTF-8 text"):
        load_route_table(make_settings(routes_file=str(latin)))

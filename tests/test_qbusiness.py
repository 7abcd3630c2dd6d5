"""Amazon Q Business backend: the real boto3 clients (qbusiness, sso-oidc, sts) against loopback fakes of
their wire APIs. End-to-end tests through /api/messages are in test_qbusiness_teams.py."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from services.backends import BackendError, Identity, Question, SignInRequired
from services.backends.qbusiness import CONVERSATION_RESET, PLUGIN_MODE_NEEDS_ID, QBusinessBackend, QBusinessConfig
from services.identity import CredentialVault, FernetCipher, KmsCipher
from services.identity.vault import KMS_DENIED, KMS_UNUSABLE
from services.store import SQLiteStore
from tests.fakes.bedrock import Failure
from tests.fakes.qbusiness import PLUGIN, FakeQBusiness, plain_review, source, ticket_review
from tests.fakes.sso_oauth import FakeSsoOauth
from tests.fakes.sts import FakeSts

APP = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


class Tokens:
    """The user's Entra token as the Bot Framework token service would give it."""

    def __init__(self, token: str | None) -> None:
        self.value = token
        self.asked = 0

    async def token(self) -> str | None:
        self.asked += 1
        return self.value

    async def sign_out(self) -> None:
        self.value = None


@pytest.fixture
async def aws(monkeypatch):
    """The three fakes on loopback, and the environment that points boto3 at them."""
    async with FakeQBusiness() as qbusiness, FakeSsoOauth() as oidc, FakeSts() as sts:
        for name, value in {
            "AWS_ENDPOINT_URL_QBUSINESS": qbusiness.url,
            "AWS_ENDPOINT_URL_SSO_OIDC": oidc.url,
            "AWS_ENDPOINT_URL_STS": sts.url,
            "AWS_ACCESS_KEY_ID": "AKIAGATEWAY",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        oidc.users = {"entra-alice": "alice", "entra-bob": "bob"}
        yield qbusiness, oidc, sts


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore(tmp_path / "state.db")
    yield store
    await store.close()


def config(identity: str = "anonymous", **overrides) -> QBusinessConfig:
    values = {
        "application_id": APP, "region": "us-east-1", "identity": identity,
        "idc_application_arn": FakeSsoOauth.client_id, "idc_region": "eu-west-1", "role_arn": FakeSts.role_arn,
        "credentials_key": Fernet.generate_key().decode(), "timeout_seconds": 5.0, **overrides,
    }  # fmt: skip
    return QBusinessConfig(**values)


async def ask(backend, text: str, state=None, identity=None, **extra):
    question = Question(text=text, conversation_key="conv|1", state=state or {}, identity=identity, **extra)
    events = [event async for event in backend.answer(question)]
    assert len(events) == 1
    return events[0]


def alice(token: str | None = "entra-alice") -> Identity:
    return Identity(user_id="alice-oid", tenant_id="t1", tokens=Tokens(token))


async def test_anonymous_continuity_keeps_conversation_and_parent_and_a_fresh_client_token(aws):
    qbusiness, _, _ = aws
    backend = QBusinessBackend(config())
    first = await ask(backend, "hello")
    second = await ask(backend, "and then?", first.state)
    third = await ask(backend, "last one", second.state)
    assert "turn 3, for anonymous" in third.text
    one, two, three = qbusiness.requests
    assert "conversationId" not in one and one["userMessage"] == "hello"
    assert two["conversationId"] == first.conversation_id and two["parentMessageId"] == first.message_id
    assert three["parentMessageId"] == second.message_id
    assert len({one["clientToken"], two["clientToken"], three["clientToken"]}) == 3
    assert first.state == {"conversation_id": first.conversation_id, "parent_message_id": first.message_id}


async def test_expired_conversation_is_started_again_once_and_the_user_is_told(aws):
    qbusiness, _, _ = aws
    backend = QBusinessBackend(config())
    first = await ask(backend, "hello")
    qbusiness.expire(first.conversation_id)
    second = await ask(backend, "still there?", first.state)
    assert second.notes == [CONVERSATION_RESET]
    assert second.conversation_id != first.conversation_id and "turn 1" in second.text
    assert [r.get("conversationId") for r in qbusiness.requests] == [None, first.conversation_id, None]
    assert qbusiness.requests[1]["clientToken"] != qbusiness.requests[2]["clientToken"]


async def test_sources_become_numbered_citations_with_inline_markers(aws):
    qbusiness, _, _ = aws
    qbusiness.answer = "Q says hello."
    qbusiness.sources = [
        source("VPN guide", "https://wiki.example.com/vpn", "word " * 100, 1, end=13),
        source("", "https://wiki.example.com/pages/remote-access", "Short.", 2),
    ]
    final = await ask(QBusinessBackend(config()), "vpn?")
    assert final.text.startswith("Q says hello. [1]")
    one, two = final.citations
    assert (one.number, one.title, one.url) == (1, "VPN guide", "https://wiki.example.com/vpn")
    assert len(one.excerpt) <= 242 and one.excerpt.endswith(" …")
    assert (two.number, two.title, two.excerpt) == (2, "remote-access", "Short.")


async def test_throttling_is_retried_in_bounded_time_with_the_same_client_token(aws):
    qbusiness, _, _ = aws
    qbusiness.failures = [Failure(429, "ThrottlingException"), Failure(500, "InternalServerException")]
    final = await ask(QBusinessBackend(config()), "hello")
    assert "turn 1" in final.text
    tokens = {r["clientToken"] for r in qbusiness.requests}
    assert len(qbusiness.requests) == 3 and len(tokens) == 1


async def test_throttling_past_the_time_budget_is_one_sentence(aws):
    qbusiness, _, _ = aws
    qbusiness.failures = [Failure(429, "ThrottlingException")] * 20
    with pytest.raises(BackendError) as caught:
        await ask(QBusinessBackend(config(timeout_seconds=1.0)), "hello")
    assert caught.value.user_message == "Amazon Q Business is too busy right now. Please try again in a minute."
    assert len(qbusiness.requests) <= 4


@pytest.mark.parametrize(
    ("identity", "failure", "expected"),
    [
        ("anonymous", Failure(403, "AccessDeniedException"), "qbusiness:ChatSync and qbusiness:PutFeedback"),
        ("anonymous", Failure(404, "ResourceNotFoundException", "Application not found"), "QBUSINESS_APPLICATION_ID"),
        ("anonymous", Failure(400, "ValidationException", "bad chatMode"), "QBUSINESS_CHAT_MODE"),
        ("anonymous", Failure(403, "LicenseNotFoundException"), "subscribe you"),
        ("idc", Failure(403, "AccessDeniedException"), "Q Business subscription"),
    ],
)
async def test_errors_are_one_clear_sentence(aws, store, identity, failure, expected):
    qbusiness, _, _ = aws
    qbusiness.failures = [failure]
    backend = QBusinessBackend(config(identity), store)
    with pytest.raises(BackendError) as caught:
        await ask(backend, "hello", identity=alice())
    assert expected in caught.value.user_message
    assert "Exception" not in caught.value.user_message and failure.message not in caught.value.user_message


async def test_idc_exchanges_the_users_token_and_caches_encrypted_credentials(aws, store, caplog):
    qbusiness, oidc, sts = aws
    caplog.set_level(logging.DEBUG, logger="services")
    backend = QBusinessBackend(config("idc"), store)
    identity = alice()
    first = await ask(backend, "hello", identity=identity)
    await ask(backend, "again", first.state, identity=identity)
    assert "for alice" in first.text
    (exchange,) = oidc.requests
    assert exchange["clientId"] == FakeSsoOauth.client_id and exchange["assertion"] == "entra-alice"
    assert exchange["grantType"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    (assumed,) = sts.requests
    assert (
        assumed["RoleArn"] == FakeSts.role_arn and assumed["ProvidedContexts.member.1.ContextAssertion"] == "ctx-alice"
    )
    assert [r["access_key"] for r in qbusiness.requests] == ["ASIAALICEX1"] * 2
    assert identity.tokens.asked == 1  # the cached credentials served the second turn
    stored = await store.get_value("credentials|qbusiness|alice-oid")
    assert stored and "ASIAALICE" not in str(stored) and "session-1" not in str(stored)
    assert "entra-alice" not in caplog.text and "session-1" not in caplog.text


async def test_idc_credentials_survive_a_restart_and_never_cross_users(aws, store):
    qbusiness, _, sts = aws
    cfg = config("idc")
    backend = QBusinessBackend(cfg, store)
    await ask(backend, "hello", identity=alice())
    bob = Identity(user_id="bob-oid", tokens=Tokens("entra-bob"))
    await ask(backend, "hello", identity=bob)
    fresh = QBusinessBackend(cfg, store)  # another worker: same store, same key
    await ask(fresh, "hello", identity=alice(token=None))
    assert [r["user"] for r in qbusiness.requests] == ["alice", "bob", "alice"]
    assert sts.issued == 2
    assert await backend.client_for(alice()) is not await backend.client_for(bob)
    other_key = QBusinessBackend(config("idc"), store)  # a changed key: stored values are unreadable
    with pytest.raises(SignInRequired):
        await ask(other_key, "hello", identity=alice(token=None))


async def test_idc_without_a_token_asks_for_sign_in_and_signout_forgets(aws, store):
    backend = QBusinessBackend(config("idc"), store)
    with pytest.raises(SignInRequired):
        await ask(backend, "hello", identity=alice(token=None))
    identity = alice()
    await ask(backend, "hello", identity=identity)
    await backend.forget(identity)
    assert await store.get_value("credentials|qbusiness|alice-oid") is None
    with pytest.raises(SignInRequired):
        await ask(backend, "hello", identity=alice(token=None))


async def test_credentials_close_to_expiry_are_exchanged_again(aws, store):
    _, _, sts = aws
    sts.lifetime = timedelta(minutes=4)  # inside the refresh margin: never reused
    backend = QBusinessBackend(config("idc"), store)
    await ask(backend, "one", identity=alice())
    await ask(backend, "two", identity=alice())
    assert sts.issued == 2


@pytest.mark.parametrize(
    ("setup", "expected", "kind"),
    [
        (lambda oidc, sts: oidc.users.clear(), "sign in again", SignInRequired),
        (lambda oidc, sts: setattr(oidc, "client_id", "other"), "QBUSINESS_IDC_APPLICATION_ARN", BackendError),
        (lambda oidc, sts: setattr(oidc, "with_context", False), "access scopes", BackendError),
        (lambda oidc, sts: setattr(sts, "deny", True), "sts:SetContext", BackendError),
    ],
)
async def test_each_exchange_step_failure_says_what_to_do(aws, store, setup, expected, kind):
    qbusiness, oidc, sts = aws
    setup(oidc, sts)
    with pytest.raises(kind) as caught:
        await ask(QBusinessBackend(config("idc"), store), "hello", identity=alice())
    assert expected in caught.value.user_message and "entra-alice" not in caught.value.user_message
    assert not qbusiness.requests


async def test_vault_binds_values_to_the_user(store):
    vault = CredentialVault(store, FernetCipher(Fernet.generate_key().decode()))
    from datetime import UTC, datetime

    from services.identity import Credentials

    await vault.put("alice", Credentials("A", "S", "T", datetime.now(UTC) + timedelta(hours=1)))
    await store.put_value("credentials|qbusiness|mallory", await store.get_value("credentials|qbusiness|alice"))
    vault._memory.clear()
    assert await vault.get("mallory") is None  # a value copied to another user does not decrypt for them
    assert (await vault.get("alice")).access_key_id == "A"


async def test_a_sign_out_in_another_worker_reaches_this_one_within_the_memory_lifetime(store, monkeypatch):
    from services.identity import vault as vault_module

    key = Fernet.generate_key().decode()
    here, elsewhere = CredentialVault(store, FernetCipher(key)), CredentialVault(store, FernetCipher(key))
    await here.put("alice", credentials())
    assert (await elsewhere.get("alice")).access_key_id == "ASIAKMS"  # now in both processes' memory
    await here.forget("alice")  # `signout` handled by the other worker
    assert await elsewhere.get("alice") is not None  # this process trusts its copy for MEMORY_SECONDS...
    clock = vault_module.time.monotonic() + vault_module.MEMORY_SECONDS + 1
    monkeypatch.setattr(vault_module.time, "monotonic", lambda: clock)
    assert await elsewhere.get("alice") is None  # ...then reads the store, where the sign-out removed them


async def test_failed_attachments_and_action_review_and_execution(aws):
    qbusiness, _, _ = aws
    from services.backends import Attachment

    qbusiness.failed_attachments = {"movie.mp4": "INVALID_FILE_TYPE"}
    qbusiness.review = ticket_review()
    backend = QBusinessBackend(config())
    files = [Attachment(name="notes.txt", data=b"hello"), Attachment(name="movie.mp4", data=b"x" * 10)]
    final = await ask(backend, "open a ticket", attachments=files)
    assert [(a["name"], a["size"]) for a in qbusiness.requests[0]["attachments"]] == [
        ("notes.txt", 5),
        ("movie.mp4", 10),
    ]
    assert final.notes == ["I could not use movie.mp4: Amazon Q Business does not read this type of file."]
    review = final.pending
    assert review["kind"] == "action_review" and review["plugin_id"] == PLUGIN
    assert review["fields"]["priority"]["choices"][1] == {"value": "High", "title": "High"}
    execution = {"pluginId": PLUGIN, "payload": {"title": {"value": "VPN down"}}, "payloadFieldNameSeparator": "."}
    done = await ask(backend, "", final.state, action=execution)
    assert done.text.startswith(f"Done: {PLUGIN} ran")
    assert qbusiness.requests[1]["actionExecution"] == execution and "userMessage" not in qbusiness.requests[1]


async def test_feedback_goes_to_q_as_the_user(aws, store):
    qbusiness, _, _ = aws
    backend = QBusinessBackend(config("idc"), store)
    final = await ask(backend, "hello", identity=alice())
    await backend.send_feedback(alice(), final.conversation_id, final.message_id, False, "wrong page")
    (feedback,) = qbusiness.feedback
    assert feedback["conv"] == final.conversation_id and feedback["msg"] == final.message_id
    assert feedback["messageUsefulness"]["usefulness"] == "NOT_USEFUL"
    assert feedback["messageUsefulness"]["comment"] == "wrong page" and feedback["user"] == "alice"


async def test_plugin_mode_sends_the_plugin_id_with_the_chat_mode(aws):
    qbusiness, _, _ = aws
    backend = QBusinessBackend(config(chat_mode="PLUGIN_MODE", plugin_id=PLUGIN))
    first = await ask(backend, "open a ticket")
    await ask(backend, "", first.state, action={"pluginId": PLUGIN, "payload": {}, "payloadFieldNameSeparator": "."})
    asked, executed = qbusiness.requests
    assert asked["chatMode"] == "PLUGIN_MODE"
    assert asked["chatModeConfiguration"] == {"pluginConfiguration": {"pluginId": PLUGIN}}
    assert "chatMode" not in executed and "chatModeConfiguration" not in executed


def test_plugin_mode_without_a_plugin_id_is_refused_at_start_up(monkeypatch):
    from services.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as caught:
        QBusinessBackend(config(chat_mode="PLUGIN_MODE"))
    assert str(caught.value).startswith("Invalid setting QBUSINESS_PLUGIN_ID: required when QBUSINESS_CHAT_MODE")
    for name, value in {"BACKEND": "qbusiness", "QBUSINESS_APPLICATION_ID": APP, "QBUSINESS_IDENTITY": "anonymous",
                        "QBUSINESS_CHAT_MODE": "plugin_mode"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value) == PLUGIN_MODE_NEEDS_ID
    monkeypatch.setenv("QBUSINESS_PLUGIN_ID", "Jira plugin")
    with pytest.raises(SettingsError, match="^Invalid setting QBUSINESS_PLUGIN_ID: must be the plugin's"):
        load_settings(_env_file=None)
    monkeypatch.setenv("QBUSINESS_PLUGIN_ID", PLUGIN)
    assert load_settings(_env_file=None).qbusiness_plugin_id == PLUGIN


async def test_action_review_with_plain_values_is_read_without_wrappers(aws):
    qbusiness, _, _ = aws
    qbusiness.review = plain_review()
    review = (await ask(QBusinessBackend(config()), "order a laptop")).pending
    fields = review["fields"]
    assert review["separator"] == "."  # Q gave none: ActionExecution requires one
    assert fields["summary"]["value"] == "Laptop broken" and fields["hours"]["value"] == "8"
    assert fields["size"]["choices"] == [{"value": 1, "title": "Small"}, {"value": 2, "title": "Large"}]
    assert fields["team"]["choices"] == [{"value": "IT", "title": None}, {"value": "HR", "title": None}]
    assert fields["items"]["value"] == [{"sku": "X1", "qty": 1}] and fields["items"]["choices"] == []
    qbusiness.review = ticket_review()  # the {"value": x} wrapper is read too
    wrapped = (await ask(QBusinessBackend(config()), "open a ticket")).pending
    assert wrapped["fields"]["title"]["value"] == "VPN broken"
    assert wrapped["fields"]["priority"]["choices"][0] == {"value": "Low", "title": "Low"}


@pytest.fixture(scope="module")
def moto_url():
    from tests.aws import moto_server

    with moto_server() as url:
        yield url


def kms_client(url: str, key: str = "testing", secret: str = "testing"):
    import boto3

    return boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret)  # fmt: skip


@contextlib.contextmanager
def iam_enforced(url: str):
    """Make moto's server check IAM policies (its /moto-api/reset-auth switch) for the block, then stop."""
    import requests

    requests.post(f"{url}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()
    try:
        yield
    finally:
        requests.post(f"{url}/moto-api/reset-auth", data=b"inf", timeout=5).raise_for_status()


def gateway_user(url: str, actions: list[str]):
    """Return a KMS client signed as a new IAM user allowed only `actions` (checked inside iam_enforced)."""
    import json

    import boto3

    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")  # fmt: skip
    name = f"gateway-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return kms_client(url, key["AccessKeyId"], key["SecretAccessKey"])


def credentials(hours: float = 1.0):
    from datetime import UTC, datetime

    from services.identity import Credentials

    return Credentials("ASIAKMS", "secret-kms", "session-kms", datetime.now(UTC) + timedelta(hours=hours))


async def test_kms_cipher_round_trip_against_moto(moto_url, store):
    kms = kms_client(moto_url)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    cipher = KmsCipher(key, kms=kms)
    blob = await cipher.encrypt(b"secret", "alice")
    assert await cipher.decrypt(blob, "alice") == b"secret" and "secret" not in str(blob)
    with pytest.raises(ValueError):
        await cipher.decrypt(blob, "bob")  # the encryption context is the user: another user's value is refused
    vault = CredentialVault(store, cipher)
    await vault.put("alice", credentials())
    vault._memory.clear()
    assert (await vault.get("alice")).session_token == "session-kms"
    assert "session-kms" not in str(await store.get_value("credentials|qbusiness|alice"))


async def test_kms_access_denied_and_a_missing_key_are_the_administrators_sentence(moto_url, aws, store):
    qbusiness, _, _ = aws
    kms = kms_client(moto_url)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    stored = CredentialVault(store, KmsCipher(key, kms=kms))
    await stored.put("bob-oid", credentials())  # kept while the role could still use the key
    denied = gateway_user(moto_url, ["kms:DescribeKey"])
    backend = QBusinessBackend(config("idc"), store, vault=CredentialVault(store, KmsCipher(key, kms=denied)))
    bob = Identity(user_id="bob-oid", tokens=Tokens("entra-bob"))
    with iam_enforced(moto_url):
        with pytest.raises(BackendError) as encrypting:
            await ask(backend, "hello", identity=alice())  # a new sign-in: its credentials cannot be kept
        with pytest.raises(BackendError) as decrypting:
            await ask(backend, "hello", identity=bob)  # stored credentials cannot be read
    for caught in (encrypting, decrypting):
        assert caught.value.user_message == KMS_DENIED and key not in caught.value.user_message
    assert "ask your administrator to let the gateway's role use the key" in KMS_DENIED
    assert await store.get_value("credentials|qbusiness|bob-oid")  # not dropped: the key is refused, not changed
    assert [r["user"] for r in qbusiness.requests] == []
    with pytest.raises(BackendError) as missing:  # a key id from another account or region
        await CredentialVault(store, KmsCipher(str(uuid.uuid4()), kms=kms)).put("carol", credentials())
    assert missing.value.user_message == KMS_UNUSABLE


async def test_the_expired_conversation_retry_shares_the_turns_time_budget(aws):
    qbusiness, _, _ = aws
    backend = QBusinessBackend(config(timeout_seconds=2.0))
    first = await ask(backend, "hello")
    qbusiness.expire(first.conversation_id)
    qbusiness.delays = [1.6]  # Q takes most of the budget to say the conversation is gone: no time for a retry
    with pytest.raises(BackendError) as caught:
        await ask(backend, "still there?", first.state)
    assert caught.value.user_message == "Amazon Q Business did not answer in time. Please try again."
    assert len(qbusiness.requests) == 2  # the retry was not started


async def test_no_attempt_starts_too_close_to_the_deadline_nor_runs_past_it(aws):
    import time

    qbusiness, _, _ = aws
    qbusiness.failures = [Failure(429, "ThrottlingException")] * 5
    with pytest.raises(BackendError) as busy:
        await ask(QBusinessBackend(config(timeout_seconds=2.0)), "hello")
    # attempt 1 at 0 s, backoff 0.5 s, attempt 2 at 0.5 s, backoff 1 s: a third would start 0.5 s before the end
    assert len(qbusiness.requests) == 2 and "too busy" in busy.value.user_message
    qbusiness.failures, qbusiness.requests = [Failure(429, "ThrottlingException")], []
    # The first attempt takes 1.5 s to fail, the second hangs: it is cut at the turn's 4 s deadline, not at its
    # own 4 s read timeout (which would end the turn after about 6 s): a margin that a loaded machine keeps.
    qbusiness.delays = [1.5, 30.0]
    started = time.monotonic()
    with pytest.raises(BackendError) as late:
        await ask(QBusinessBackend(config(timeout_seconds=4.0)), "hello")
    assert time.monotonic() - started < 5.0 and "did not answer in time" in late.value.user_message


def test_every_sentence_the_user_or_operator_sees_has_a_row_in_the_troubleshooting_table():
    import re

    import handlers.qbusiness as teams
    import handlers.signin as signin
    import services.backends.qbusiness as backend
    from services.identity import exchange, vault
    from services.settings import REPO_ROOT

    doc = (REPO_ROOT / "docs" / "qbusiness.md").read_text()
    table = doc[doc.index("## When it goes wrong") :]
    sentences = [*backend.SENTENCES.values(), *backend.FAILED_ATTACHMENT.values()]
    for module, names in (
        (backend, "SIGN_IN_FIRST NO_USER CONVERSATION_RESET ACTION_WAITING AUTH_CHALLENGE PLUGIN_MODE_NEEDS_ID"),
        (exchange, "SIGN_IN_AGAIN TOKEN_EXCHANGE_REFUSED WRONG_REGION NO_CONTEXT ROLE_REFUSED UNREACHABLE"),
        (vault, "KMS_DENIED KMS_UNUSABLE KMS_UNREACHABLE"),
        (teams, "ACTION_GONE NOT_YOURS CANCELLED ARRAY_NOTE"),
        (signin, "SIGNED_IN SIGN_IN_FAILED SIGNED_OUT NOTHING_TO_SIGN_OUT FEEDBACK_SIGN_IN FEEDBACK_NOT_PASSED "
                 "FEEDBACK_PASSED"),
    ):  # fmt: skip
        sentences += [getattr(module, name).replace("{label}", "Amazon Q Business") for name in names.split()]
    for sentence in sentences:
        opening = re.split(r"[{:(;]|\. ", sentence)[0].strip()  # up to the first placeholder or explanation
        assert opening in table, f"docs/qbusiness.md has no row for: {sentence}"

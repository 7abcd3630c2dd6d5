"""Settings on Lambda: every setting is reachable on the deployed stack (a stack parameter, or a parameter under
SettingsParameterPath in SSM Parameter Store, here moto's server), validated at cold start like local settings;
invalid settings give one ERROR line and a clear refusal, not an exception per request."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from dotenv import dotenv_values

import services.deployed_settings as deployed_settings
from services.deployed_settings import load_deployed_settings, stored_settings
from services.settings import REPO_ROOT, SettingsError
from tests.aws import aws_environment, moto_server
from tests.cfn import load_template

EXAMPLE = REPO_ROOT / ".env.example"
COMMENTED = re.compile(r"^#\s*([A-Z][A-Z0-9_]*)=(\S*)", re.M)
# Settings the stack sets to what it creates or needs, never an operator's choice (docs/deploy.md says so).
FIXED_BY_THE_STACK = {
    "STORE": "dynamodb", "QUEUE": "sqs", "STATE_DB": "/tmp/state/gateway.db",
    "ANALYTICS_PROCESSES": 1,  # the analytics worker takes one job per invocation (batch size 1)
}  # fmt: skip
APP = "6f1c0e2a-1111-4000-8000-000000000abc"


def example_settings() -> set[str]:
    text = EXAMPLE.read_text()
    return set(dotenv_values(EXAMPLE)) | {name for name, _ in COMMENTED.findall(text)}


def refs(node) -> set[str]:
    """Return every name a template expression refers to (Ref, GetAtt, !If's branches, Fn::Sub's ${...})."""
    if isinstance(node, dict):
        found = {node["Ref"]} if "Ref" in node else set()
        found |= {node["Fn::GetAtt"][0]} if "Fn::GetAtt" in node else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node))
    return set(re.findall(r"\$\{([\w:]+)", node)) if isinstance(node, str) else set()


@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture
def ssm(moto_url, monkeypatch):
    import boto3

    for name, value in aws_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    path = f"/teams-gateway/{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SETTINGS_PARAMETER_PATH", path)
    client = boto3.client("ssm")

    def put(name: str, value: str, kind: str = "String") -> None:
        client.put_parameter(Name=f"{path}/{name}", Value=value, Type=kind)

    return put


def test_every_setting_in_env_example_is_reachable_on_lambda(ssm, monkeypatch):
    """Generic, so settings added later are covered: a setting the template sets must come from a stack
    parameter (or be one the stack fixes); every other one goes through the parameter path and reaches its field."""
    template = load_template()
    environment = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():  # a function's own variables (TURN_TIMEOUT_SECONDS, …)
        environment.update(resource.get("Properties", {}).get("Environment", {}).get("Variables", {}))
    parameters = set(template["Parameters"])
    through_path = []
    for name in sorted(example_settings()):
        if name in environment:
            if name in FIXED_BY_THE_STACK:
                assert environment[name] == FIXED_BY_THE_STACK[name]
            else:
                assert refs(environment[name]) & (parameters | set(template["Resources"])), (
                    f"{name} is fixed in template.yaml: make it a parameter, or leave it to SettingsParameterPath"
                )
        else:
            through_path.append(name)
    for name in through_path:
        ssm(name, "x")  # SSM values cannot be empty; this checks where the name lands, not the value
    captured = {}
    monkeypatch.setattr(deployed_settings, "load_settings", lambda **overrides: captured.update(overrides))
    load_deployed_settings()
    assert sorted(captured) == sorted(name.lower() for name in through_path)
    assert {"bedrock_system_prompt", "usage_prices_file", "qbusiness_timeout_seconds"} <= set(captured)


def test_settings_under_the_path_are_applied_and_validated(ssm, monkeypatch):
    monkeypatch.setenv("BACKEND", "local")
    ssm("BEDROCK_SYSTEM_PROMPT", "Answer in one short paragraph.\nCite the source.")
    ssm("BEDROCK_KB_TOP_K", "8")
    ssm("CREDENTIALS_KEY", "bm90LWEta2V5", kind="SecureString")
    with pytest.raises(SettingsError, match=r"^Invalid setting CREDENTIALS_KEY: must be a Fernet key"):
        load_deployed_settings()  # validated like a local setting, and a secret's value is not shown
    ssm2_key = "MI6k6Yr3kQ1j0Xo0k5wq8vB8fX5yq3gQm0o3bQJt0xY="
    import boto3

    path = deployed_settings.os.environ["SETTINGS_PARAMETER_PATH"]
    boto3.client("ssm").put_parameter(
        Name=f"{path}/CREDENTIALS_KEY", Value=ssm2_key, Type="SecureString", Overwrite=True
    )
    settings = load_deployed_settings()
    assert settings.bedrock_system_prompt == "Answer in one short paragraph.\nCite the source."
    assert settings.bedrock_kb_top_k == 8 and settings.credentials_key.get_secret_value() == ssm2_key
    assert settings.backend == "local"  # the stack's environment still applies


def test_an_unknown_name_or_one_the_stack_sets_is_refused(ssm, monkeypatch):
    ssm("BEDROCK_SYSTEM_PROMPTS", "typo")
    with pytest.raises(SettingsError, match=r"BEDROCK_SYSTEM_PROMPTS: the parameter .* is not a setting"):
        load_deployed_settings()
    path = deployed_settings.os.environ["SETTINGS_PARAMETER_PATH"]
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    assert stored_settings(path + "-none") == {}
    import boto3

    boto3.client("ssm").delete_parameter(Name=f"{path}/BEDROCK_SYSTEM_PROMPTS")
    ssm("LOG_LEVEL", "DEBUG")
    with pytest.raises(SettingsError, match=r"LOG_LEVEL: set both as a stack parameter and as"):
        load_deployed_settings()


def test_an_unreadable_path_is_one_line(monkeypatch):
    for name, value in aws_environment("http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("SETTINGS_PARAMETER_PATH", "/teams-gateway/prod")
    with pytest.raises(SettingsError, match=r"^Invalid setting SETTINGS_PARAMETER_PATH: could not read"):
        load_deployed_settings()


def single_tenant_without_tenant(monkeypatch) -> None:
    for name, value in {
        "MICROSOFT_APP_ID": APP,
        "MICROSOFT_APP_PASSWORD": "p",
        "MICROSOFT_APP_TYPE": "SingleTenant",
    }.items():
        monkeypatch.setenv(name, value)


def test_the_ingress_answers_503_with_one_error_line_when_settings_are_invalid(monkeypatch, caplog):
    import json

    import entrypoints.lambda_ingress as ingress
    from tests.test_lambda import http_event

    single_tenant_without_tenant(monkeypatch)
    monkeypatch.setattr(ingress, "_ingress", None)
    monkeypatch.setattr(ingress, "_startup_error", None)
    caplog.set_level(logging.ERROR)
    answers = [ingress.handler(http_event({"type": "message", "text": "hi"})) for _ in range(3)]
    assert {answer["statusCode"] for answer in answers} == {503}
    body = json.loads(answers[0]["body"])
    assert body["error"]["message"].startswith("The gateway's settings are invalid") and "\n" not in answers[0]["body"]
    assert "TENANT" not in answers[0]["body"]  # the detail is for the operator's log, not an unauthenticated caller
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "MICROSOFT_APP_TENANT_ID: required when MICROSOFT_APP_TYPE is SingleTenant" in errors[0]


def test_a_worker_with_invalid_settings_logs_once_and_fails_fast(monkeypatch, caplog):
    import entrypoints.lambda_worker as worker
    from tests.aws import sqs_event

    single_tenant_without_tenant(monkeypatch)
    monkeypatch.setattr(worker, "_worker", None)
    monkeypatch.setattr(worker, "_startup_error", None)
    loads = []
    real = worker.load_deployed_settings
    monkeypatch.setattr(worker, "load_deployed_settings", lambda: loads.append(1) or real())
    caplog.set_level(logging.ERROR)
    message = {"MessageId": "m1", "ReceiptHandle": "r", "Body": "{}", "MD5OfBody": "x",
               "Attributes": {"ApproximateReceiveCount": "1"}}  # fmt: skip
    for _ in range(3):
        assert worker.handler(sqs_event([message])) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    errors = [r.getMessage() for r in caplog.records if r.name == worker.__name__ and r.levelno >= logging.ERROR]
    assert loads == [1] and sum("cannot start" in e for e in errors) == 1


@pytest.mark.parametrize("entry", ["ingress", "worker"])
def test_observability_settings_under_the_path_apply_to_the_functions_logs(ssm, monkeypatch, entry):
    """LOG_FORMAT and SENTRY_RELEASE are reachable only through the path: the entries' cold-start logging read
    the environment alone, so they were accepted and never applied."""
    import entrypoints.lambda_ingress as ingress
    import entrypoints.lambda_worker as worker
    from services.observability.logs import JsonFormatter, configure_logging

    for name in ("LOG_FORMAT", "MICROSOFT_APP_ID", "ROUTES_FILE", "ROUTES_S3_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BACKEND", "local")
    ssm("LOG_FORMAT", "json")
    configure_logging("INFO", "text")  # what the cold start configured from the environment alone
    if entry == "ingress":
        monkeypatch.setattr(ingress, "_ingress", None)
        monkeypatch.setattr(ingress, "build_ingress", lambda settings: settings)
        ingress.ingress()
    else:
        monkeypatch.setattr(worker, "_worker", None)
        monkeypatch.setattr(worker, "_startup_error", None)
        monkeypatch.setattr(worker, "build_worker", lambda settings: settings)
        worker.worker()
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    configure_logging("INFO", "text")
    assert ours

"""Deploy-time checks: every combination of stack parameters that the settings would refuse at cold start is
refused by `sam deploy` first (template.yaml's Rules and parameter constraints, evaluated by tests/cfn.py)."""

from __future__ import annotations

import random

import pytest

from services.settings import Settings, SettingsError, load_settings
from tests.cfn import ParameterRejected, failed_rules, function_environment, load_template, parameter_values

APP = "6f1c0e2a-1111-4000-8000-000000000abc"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
Q_APP = "a1b2c3d4-0000-4000-8000-00000000abcd"
IDC = "arn:aws:sso::111122223333:application/ssoins-1234/apl-5678"
ROLE = "arn:aws:iam::111122223333:role/q-gateway"
PLUGIN = "0a1b2c3d-0000-4000-8000-00000000beef"
VALID = {"MicrosoftAppId": APP, "MicrosoftAppPassword": "secret", "MicrosoftAppTenantId": TENANT,
         "BedrockModelId": "eu.anthropic.claude-sonnet-4"}  # fmt: skip
FUNCTIONS = ("IngressFunction", "ChatWorkerFunction", "AnalyticsWorkerFunction", "DeadLetterFunction")

# Values to try for each parameter: valid ones and ones the settings refuse.
CANDIDATES = {
    "MicrosoftAppType": ["SingleTenant", "MultiTenant"],
    "MicrosoftAppTenantId": ["", TENANT, "contoso.onmicrosoft.com"],
    "AllowedTenants": ["", TENANT, f"{TENANT}, {TENANT}", "not a tenant"],
    "Backend": ["bedrock", "qbusiness", "local"],
    "BedrockModelId": ["", "eu.anthropic.claude-sonnet-4"],
    "BedrockGuardrailId": ["", "gr-1"],
    "BedrockGuardrailVersion": ["", "1"],
    "BedrockTemperature": ["0.2", "1", "1.5", "warm"],
    "BedrockMaxTokens": ["1024", "0", "70000"],
    "QBusinessApplicationId": ["", Q_APP, "my-application"],
    "QBusinessIdentity": ["idc", "anonymous"],
    "QBusinessOAuthConnection": ["", "entra"],
    "QBusinessIdcApplicationArn": ["", IDC, "arn:aws:sso::1:application"],
    "QBusinessRoleArn": ["", ROLE, "q-gateway"],
    "QBusinessChatMode": ["", "RETRIEVAL_MODE", "PLUGIN_MODE", "chat"],
    "QBusinessPluginId": ["", PLUGIN, "my-plugin"],
    "SentryDsn": ["", "https://abc@o1.ingest.sentry.io/42", "https://sentry.io", "abc"],
    "SentryTracesSampleRate": ["0", "0.5", "2"],
    "UserDailyTokenLimit": ["", "0", "50000", "-5", "lots"],
    "TeamMonthlyCostLimit": ["", "2.50", "-1", "$5"],
    "DownloadAllowedHosts": ["*.sharepoint.com", "*.sharepoint.com, files.example.com", "https://x.com/a", "*"],
    "LogLevel": ["INFO", "verbose"],
    "AnalyticsMaxFileMb": ["200", "0"],
    "SettingsParameterPath": ["", "/teams-gateway/prod", "teams-gateway/"],
}


def deploy_verdict(template: dict, given: dict[str, str]) -> str | None:
    """Return why CloudFormation would refuse `given` (a constraint or a rule), or None when it deploys."""
    try:
        values = parameter_values(template, given)
    except ParameterRejected as problem:
        return str(problem)
    failed = failed_rules(template, values)
    return failed[0] if failed else None


def settings_verdict(template: dict, given: dict[str, str], monkeypatch) -> str | None:
    """Return the settings' one-line refusal of what each function would get from `given`, or None."""
    values = parameter_values(template, given)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for function in FUNCTIONS:
        environment = function_environment(template, values, function)
        try:
            load_settings(_env_file=None, **{name.lower(): value for name, value in environment.items()})
        except SettingsError as problem:
            return str(problem)
    return None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"MicrosoftAppTenantId": ""}, "MicrosoftAppTenantId is required when MicrosoftAppType is SingleTenant"),
        ({"BedrockModelId": ""}, "BedrockModelId is required"),
        ({"BedrockGuardrailId": "gr-1"}, "Set both BedrockGuardrailId and BedrockGuardrailVersion"),
        ({"BedrockGuardrailVersion": "2"}, "Set both BedrockGuardrailId and BedrockGuardrailVersion"),
        ({"Backend": "qbusiness", "QBusinessIdentity": "anonymous"}, "QBusinessApplicationId is required"),
        ({"Backend": "qbusiness", "QBusinessIdentity": "anonymous", "QBusinessApplicationId": Q_APP,
          "QBusinessChatMode": "PLUGIN_MODE"}, "QBusinessPluginId is required"),
        ({"Backend": "qbusiness", "QBusinessApplicationId": Q_APP}, "QBusinessIdcApplicationArn is required"),
        ({"Backend": "qbusiness", "QBusinessApplicationId": Q_APP, "QBusinessIdcApplicationArn": IDC},
         "QBusinessRoleArn is required"),
        ({"Backend": "qbusiness", "QBusinessApplicationId": Q_APP, "QBusinessIdcApplicationArn": IDC,
          "QBusinessRoleArn": ROLE}, "QBusinessOAuthConnection is required"),
        ({"MicrosoftAppTenantId": "contoso"}, "MicrosoftAppTenantId: 'contoso' does not match"),
        ({"AllowedTenants": "not a tenant"}, "AllowedTenants: 'not a tenant' does not match"),
        ({"QBusinessApplicationId": "my-app"}, "QBusinessApplicationId: 'my-app' does not match"),
        ({"UserDailyTokenLimit": "lots"}, "UserDailyTokenLimit"),
        ({"SettingsParameterPath": "gateway/"}, "SettingsParameterPath"),
        ({"MicrosoftAppType": "Everyone"}, "MicrosoftAppType: 'Everyone' is not one of the allowed values"),
    ],
)  # fmt: skip
def test_each_invalid_combination_is_refused_at_deploy_time(change, reason):
    template = load_template()
    assert deploy_verdict(template, VALID) is None
    verdict = deploy_verdict(template, VALID | change)
    assert verdict is not None and reason in verdict


def test_the_defaults_alone_are_refused_where_they_used_to_deploy_and_fail_every_request():
    # `sam deploy --guided` accepting every default: SingleTenant without a tenant id, bedrock without a model.
    verdict = deploy_verdict(load_template(), {"MicrosoftAppId": APP, "MicrosoftAppPassword": "secret"})
    assert verdict is not None and "MicrosoftAppTenantId is required" in verdict


def test_whatever_the_settings_refuse_the_template_refuses_first(monkeypatch):
    """Every single-parameter change from a valid stack, and 400 random combinations: when a function's settings
    would refuse to start, `sam deploy` refuses the parameters; valid stacks start (both ways agree)."""
    template = load_template()
    trials = [VALID | {name: value} for name, values in CANDIDATES.items() for value in values]
    chance = random.Random(22)
    trials += [VALID | {name: chance.choice(values) for name, values in CANDIDATES.items()} for _ in range(400)]
    disagreements, refused = [], 0
    for given in trials:
        deploy = deploy_verdict(template, given)
        if deploy is not None:
            refused += 1
            continue
        settings = settings_verdict(template, given, monkeypatch)
        if settings is not None:
            disagreements.append((given, settings))
    assert disagreements == []
    assert 0 < refused < len(trials)  # the trials hold both kinds

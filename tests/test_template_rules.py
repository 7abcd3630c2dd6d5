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
RUNTIME = "arn:aws:bedrock-agentcore:eu-west-1:111122223333:runtime/helpdesk-AbCdE12345"
VALID = {"MicrosoftAppId": APP, "MicrosoftAppPassword": "secret", "MicrosoftAppTenantId": TENANT,
         "BedrockModelId": "eu.anthropic.claude-sonnet-4"}  # fmt: skip
FUNCTIONS = (
    "IngressFunction",
    "ChatWorkerFunction",
    "AnalyticsWorkerFunction",
    "DeadLetterFunction",
    "MonitorTickFunction",
)

# Values to try for each parameter: valid ones and ones the settings refuse.
CANDIDATES = {
    "MicrosoftAppType": ["SingleTenant", "MultiTenant"],
    "MicrosoftAppTenantId": ["", TENANT, "contoso.onmicrosoft.com"],
    "AllowedTenants": ["", TENANT, f"{TENANT}, {TENANT}", "not a tenant"],
    "Backend": ["bedrock", "qbusiness", "local", "agentcore", "bedrock-agent"],
    "AgentCoreRuntimeArn": ["", RUNTIME, "helpdesk"],
    "AgentCoreAuth": ["sigv4", "oauth"],
    "AgentCoreOAuthConnection": ["", "entra"],
    "BedrockAgentId": ["", "AGENT12345", "my-agent"],
    "BedrockAgentAliasId": ["", "ALIAS12345"],
    "RoutesBucket": ["", "contoso-routes"],
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
        ({"Backend": "agentcore"}, "AgentCoreRuntimeArn is required"),
        ({"Backend": "agentcore", "AgentCoreRuntimeArn": RUNTIME, "AgentCoreAuth": "oauth"},
         "AgentCoreOAuthConnection is required"),
        ({"Backend": "bedrock-agent"}, "BedrockAgentId is required"),
        ({"Backend": "bedrock-agent", "BedrockAgentId": "AGENT12345"}, "BedrockAgentAliasId is required"),
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


def test_a_routed_stack_needs_no_settings_for_the_unused_backend(monkeypatch):
    """With a route table, Backend does not answer (docs/routing.md): the default Backend=bedrock without a model
    deploys and its functions start; the named backends are checked when the table is read."""
    template = load_template()
    routed = {"MicrosoftAppId": APP, "MicrosoftAppPassword": "secret", "MicrosoftAppTenantId": TENANT,
              "RoutesBucket": "contoso-routes"}  # fmt: skip
    assert deploy_verdict(template, routed) is None
    assert settings_verdict(template, routed, monkeypatch) is None


def test_every_stack_parameter_is_in_deploy_md():
    """An operator reads the parameters in docs/deploy.md: each parameter the template takes is named there."""
    from services.settings import REPO_ROOT

    guide = (REPO_ROOT / "docs" / "deploy.md").read_text()
    missing = [name for name in load_template()["Parameters"] if f"`{name}`" not in guide]
    assert missing == []


def resolve(node, values, conditions):
    """Return a template fragment with its intrinsic functions evaluated (plain mappings and lists walked)."""
    from tests.cfn import evaluate

    if isinstance(node, dict) and list(node) == ["Fn::If"]:  # a branch may be a plain mapping: walk it
        name, when_true, when_false = node["Fn::If"]
        chosen = when_true if evaluate(conditions[name], values, conditions) else when_false
        return resolve(chosen, values, conditions)
    if isinstance(node, dict) and len(node) == 1 and next(iter(node)).startswith(("Ref", "Fn::", "Condition")):
        return evaluate(node, values, conditions)
    if isinstance(node, dict):
        return {key: resolve(value, values, conditions) for key, value in node.items()}
    return [resolve(item, values, conditions) for item in node] if isinstance(node, list) else node


def test_knowledge_base_and_guardrail_grants_are_in_bedrocks_region():
    """BedrockRegion moves the Bedrock calls (knowledge base and guardrail included) to that region: the chat
    worker's grants name it, or Retrieve and ApplyGuardrail are refused (they named the stack's region)."""
    template = load_template()
    given = VALID | {"BedrockKnowledgeBaseId": "KB12345678", "BedrockGuardrailId": "gr1"}
    given["BedrockGuardrailVersion"] = "1"
    for region, expected in (("", "eu-west-1"), ("us-west-2", "us-west-2")):
        values = parameter_values(template, given | {"BedrockRegion": region})
        statements = template["Resources"]["ChatWorkerFunction"]["Properties"]["Policies"][0]["Statement"]
        granted = [resolve(s, values, template["Conditions"]) for s in statements]
        resources = {g["Action"]: g["Resource"] for g in granted if g and g["Action"] in ("bedrock:Retrieve",
                     "bedrock:ApplyGuardrail")}  # fmt: skip
        assert resources == {
            "bedrock:Retrieve": f"arn:aws:bedrock:{expected}:111122223333:knowledge-base/KB12345678",
            "bedrock:ApplyGuardrail": f"arn:aws:bedrock:{expected}:111122223333:guardrail/gr1",
        }

"""Settings: defaults, parsing, and one clear line naming the variable for a bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.settings import REPO_ROOT, SettingsError, load_settings


def test_defaults_need_no_configuration(make_settings):
    settings = make_settings()
    assert settings.port == 3978 and settings.backend == "local" and settings.anonymous
    assert settings.allowed_tenants == [] and settings.microsoft_app_type == "MultiTenant"


@pytest.mark.parametrize(
    ("env", "line_start"),
    [
        ({"PORT": "abc"}, "Invalid setting PORT:"),
        ({"PORT": "70000"}, "Invalid setting PORT:"),
        ({"BACKEND": "magic"}, "Invalid setting BACKEND:"),
        ({"LOG_LEVEL": "chatty"}, "Invalid setting LOG_LEVEL:"),
        ({"MICROSOFT_APP_TYPE": "Everyone"}, "Invalid setting MICROSOFT_APP_TYPE:"),
        ({"BOT_OPENID_METADATA_URL": "not a url"}, "Invalid setting BOT_OPENID_METADATA_URL:"),
        ({"ALLOWED_TENANTS": "not a tenant"}, "Invalid setting ALLOWED_TENANTS: 'not a tenant' is not a tenant id"),
        ({"MICROSOFT_APP_ID": "id-only"}, "Invalid setting MICROSOFT_APP_PASSWORD:"),
        ({"ANALYTICS_MEMORY_MB": "512"}, "Invalid setting ANALYTICS_MEMORY_MB:"),  # pyarrow cannot import under it
        (
            {"MICROSOFT_APP_TYPE": "singletenant", "MICROSOFT_APP_ID": "a", "MICROSOFT_APP_PASSWORD": "p"},
            "Invalid setting MICROSOFT_APP_TENANT_ID:",
        ),
    ],
)
def test_bad_value_names_the_variable(monkeypatch, env, line_start):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert message.startswith(line_start) and "\n" not in message
    assert "p'" not in message  # secrets are not echoed


def test_comma_list_and_case_insensitive_values(monkeypatch):
    t1, t2, t3 = (f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-4000-8000-000000000000" for n in "123")
    monkeypatch.setenv("ALLOWED_TENANTS", f" {t1}, {t2} ,,{t3} ")
    monkeypatch.setenv("MICROSOFT_APP_TYPE", "multitenant")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings(_env_file=None)
    assert settings.allowed_tenants == [t1, t2, t3]
    assert (settings.microsoft_app_type, settings.log_level) == ("MultiTenant", "DEBUG")


def test_serve_stops_with_one_line_for_a_bad_setting(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Invalid setting PORT: Input should be a valid integer, unable to parse string as an integer (got 'eighty')"
    ]


def test_serve_names_the_missing_bedrock_region_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "BACKEND": "bedrock", "BEDROCK_MODEL_ID": "m.x-v1",
           "STATE_DB": str(tmp_path / "s.db"), "AWS_CONFIG_FILE": str(tmp_path / "none")}  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Invalid setting BEDROCK_REGION: no AWS region is configured (set BEDROCK_REGION or AWS_REGION)"
    )
    assert "Traceback" not in result.stderr


def test_bedrock_needs_a_model_id(monkeypatch):
    monkeypatch.setenv("BACKEND", "bedrock")
    with pytest.raises(SettingsError, match="^Invalid setting BEDROCK_MODEL_ID"):
        load_settings(_env_file=None)


IDC_APP = "arn:aws:sso::123456789012:application/ssoins-72231a6cc3a52f5e/apl-1a2b3c4d5e6f7a8b"


@pytest.mark.parametrize(
    ("name", "value", "line_start"),
    [
        (
            "QBUSINESS_IDC_APPLICATION_ARN",
            "apl-1234567890abcdef",
            "Invalid setting QBUSINESS_IDC_APPLICATION_ARN: must be",
        ),
        (
            "QBUSINESS_IDC_APPLICATION_ARN",
            "arn:aws:iam::123456789012:role/x",
            "Invalid setting QBUSINESS_IDC_APPLICATION_ARN",
        ),
        ("QBUSINESS_ROLE_ARN", "teams-qbusiness", "Invalid setting QBUSINESS_ROLE_ARN: must be the ARN of the role"),
        ("QBUSINESS_ROLE_ARN", "arn:aws:iam::123456789012:user/alice", "Invalid setting QBUSINESS_ROLE_ARN"),
    ],
)
def test_qbusiness_arns_are_checked_at_start_up(monkeypatch, name, value, line_start):
    good = {
        "BACKEND": "qbusiness", "QBUSINESS_APPLICATION_ID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "QBUSINESS_OAUTH_CONNECTION": "entra", "CREDENTIALS_KEY": "x" * 43 + "=",
        "QBUSINESS_IDC_APPLICATION_ARN": IDC_APP,
        "QBUSINESS_ROLE_ARN": "arn:aws-us-gov:iam::123456789012:role/service/teams-qbusiness",
    }  # fmt: skip
    for key, setting in good.items():
        monkeypatch.setenv(key, setting)
    assert load_settings(_env_file=None).qbusiness_role_arn.endswith("/teams-qbusiness")
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    assert str(raised.value).startswith(line_start) and "\n" not in str(raised.value)

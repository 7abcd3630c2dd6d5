"""Settings on AWS Lambda: the stack's environment, plus any setting kept under an SSM Parameter Store path.

template.yaml turns the common settings into stack parameters (environment variables). Every other setting
is set without editing the template: put a parameter named after it under the stack's `SettingsParameterPath`
(`/teams-gateway/prod/BEDROCK_SYSTEM_PROMPT`, String or SecureString), and each function reads the path once
per cold start. The values are validated with the same rules as local settings (`load_settings`). A name under
the path that is not a setting, or that the stack already sets, stops the start with one line: two places
for one value would leave the operator guessing which one wins.
"""

from __future__ import annotations

import os

from services.settings import Settings, SettingsError, load_settings

PATH_VARIABLE = "SETTINGS_PARAMETER_PATH"
MAX_PARAMETERS = 200  # more than there are settings: a bound on what one cold start reads


def stored_settings(path: str) -> dict[str, str]:
    """Return {SETTING_NAME: value} for the parameters directly under `path` (SecureStrings decrypted).

    Raises SettingsError for a name that is not a setting or that the environment sets already."""
    import boto3

    known = {name.upper() for name in Settings.model_fields}
    values: dict[str, str] = {}
    pages = boto3.client("ssm").get_paginator("get_parameters_by_path")
    for page in pages.paginate(Path=path, Recursive=False, WithDecryption=True):
        for parameter in page.get("Parameters", []):
            name = parameter["Name"].rsplit("/", 1)[-1].upper()
            if name not in known:
                raise SettingsError(
                    f"Invalid setting {name}: the parameter {parameter['Name']} is not a setting of the gateway "
                    "(docs/settings.md lists them)"
                )
            if name in os.environ:
                raise SettingsError(
                    f"Invalid setting {name}: set both as a stack parameter and as {parameter['Name']}; "
                    "keep one (the stack's parameters are listed in docs/deploy.md)"
                )
            values[name] = parameter["Value"]
            if len(values) > MAX_PARAMETERS:
                raise SettingsError(
                    f"Invalid setting {PATH_VARIABLE}: more than {MAX_PARAMETERS} parameters under {path}"
                )
    return values


def load_deployed_settings() -> Settings:
    """Return the settings of a Lambda function: the environment, and the parameters under
    SETTINGS_PARAMETER_PATH when it is set. Raises SettingsError (one line naming the variable)."""
    path = os.environ.get(PATH_VARIABLE, "").strip()
    if not path:
        return load_settings()
    try:
        stored = stored_settings(path)
    except SettingsError:
        raise
    except Exception as error:  # noqa: BLE001 - any AWS failure becomes the one line the entries log
        raise SettingsError(
            f"Invalid setting {PATH_VARIABLE}: could not read the parameters under {path} "
            f"({type(error).__name__}: {str(error)[:200]})"
        ) from None
    return load_settings(**{name.lower(): value for name, value in stored.items()})

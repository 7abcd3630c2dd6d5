"""Gateway settings: one pydantic-settings model read from the environment and an optional `.env`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.safe_fetch import MICROSOFT_FILE_HOSTS, check_host_pattern

# Where the worker sends the bot's token (a queued job's serviceUrl): the Bot Framework's service hosts (public
# cloud, Web Chat/Direct Line, GCC, GCC High, DoD). The local emulator on loopback is added only by
# `python -m bot serve --dev` (LOCAL_SERVICE_HOSTS), and refused on Lambda.
BOT_SERVICE_HOSTS = (
    "smba.trafficmanager.net", "*.botframework.com", "smba.infra.gcc.teams.microsoft.com",
    "smba.infra.gov.teams.microsoft.us", "smba.infra.dod.teams.microsoft.us",
)  # fmt: skip
LOCAL_SERVICE_HOSTS = ("http://127.0.0.1", "http://localhost")

REPO_ROOT = Path(__file__).resolve().parent.parent
IDC_APPLICATION_ARN = r"arn:aws[a-z-]*:sso::\d{12}:application/ssoins-[A-Za-z0-9.-]+/apl-[A-Za-z0-9]+"
ROLE_ARN = r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}"
GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
PLUGIN_ID = r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"  # Q Business's PluginId pattern


class SettingsError(ValueError):
    """A setting has a bad value; the message is one line that names the variable."""


class Settings(BaseSettings):
    """Every setting the gateway reads. Names are the environment variable names (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    microsoft_app_id: str = ""
    microsoft_app_password: SecretStr = SecretStr("")
    microsoft_app_type: Literal["MultiTenant", "SingleTenant"] = "MultiTenant"
    microsoft_app_tenant_id: str = ""
    bot_openid_metadata_url: HttpUrl | None = None
    allowed_channels: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["msteams"])
    auth_require_exp: bool = True

    backend: str = "local"  # a backend type (services/backends/registry.py), checked with its own settings
    routes_file: Path | None = None  # several named backends and their route table (docs/routing.md)
    routes_s3_uri: str = ""  # the same, as an S3 object read at start-up: s3://<bucket>/<key>
    knowledge_dir: Path = REPO_ROOT / "docs"
    state_db: Path = Path("state/gateway.db")
    allowed_tenants: Annotated[list[str], NoDecode] = Field(default_factory=list)

    host: str = "127.0.0.1"
    port: int = Field(default=3978, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    sentry_dsn: SecretStr = SecretStr("")
    sentry_environment: str = "production"
    sentry_release: str = ""  # empty: the tag the build stamped, else git, else pyproject.toml (sentry.release)
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)

    history_max_chars: int = Field(default=24_000, ge=1_000)
    stream_interval_seconds: float = Field(default=1.5, ge=0.05, le=10.0)

    bedrock_model_id: str = ""
    bedrock_region: str = ""
    bedrock_system_prompt: str = ""
    bedrock_max_tokens: int = Field(default=1024, ge=1, le=64_000)
    bedrock_temperature: float = Field(default=0.2, ge=0.0, le=1.0)
    bedrock_guardrail_id: str = ""
    bedrock_guardrail_version: str = ""
    bedrock_knowledge_base_id: str = ""
    bedrock_kb_top_k: int = Field(default=5, ge=1, le=100)
    bedrock_streaming: bool = True
    bedrock_max_input_chars: int = Field(default=20_000, ge=100)
    bedrock_timeout_seconds: float = Field(default=60.0, gt=0)
    bedrock_max_attempts: int = Field(default=4, ge=1, le=10)
    bedrock_prompt_caching: bool = True

    # Usage, budgets and audit (docs/usage.md). A limit of 0 or empty means no limit.
    admin_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    usage_prices_file: Path | None = None
    usage_table: str = ""
    user_daily_token_limit: int | None = Field(default=None, ge=0)
    user_daily_cost_limit: float | None = Field(default=None, ge=0)
    team_monthly_token_limit: int | None = Field(default=None, ge=0)
    team_monthly_cost_limit: float | None = Field(default=None, ge=0)
    audit_include_text: bool = False
    audit_retention_days: int = Field(default=90, ge=1, le=3650)
    audit_dir: Path | None = None  # None: an `audit` folder beside STATE_DB
    audit_s3_bucket: str = ""

    qbusiness_application_id: str = ""
    qbusiness_region: str = ""
    qbusiness_identity: Literal["anonymous", "idc"] = "idc"
    qbusiness_chat_mode: Literal["", "RETRIEVAL_MODE", "CREATOR_MODE", "PLUGIN_MODE"] = ""
    qbusiness_plugin_id: str = ""
    qbusiness_oauth_connection: str = ""
    qbusiness_idc_application_arn: str = ""
    qbusiness_idc_region: str = ""
    qbusiness_role_arn: str = ""
    qbusiness_timeout_seconds: float = Field(default=60.0, gt=0, le=300)

    agentcore_runtime_arn: str = ""
    agentcore_qualifier: str = "DEFAULT"
    agentcore_region: str = ""
    agentcore_auth: Literal["sigv4", "oauth"] = "sigv4"
    agentcore_oauth_connection: str = ""
    agentcore_timeout_seconds: float = Field(default=120.0, gt=0, le=900)
    agentcore_max_attempts: int = Field(default=3, ge=1, le=10)
    agentcore_max_input_chars: int = Field(default=20_000, ge=100, le=1_000_000)

    bedrock_agent_id: str = ""
    bedrock_agent_alias_id: str = ""
    bedrock_agent_region: str = ""
    bedrock_agent_timeout_seconds: float = Field(default=120.0, gt=0, le=900)
    bedrock_agent_max_input_chars: int = Field(default=20_000, ge=100, le=25_000)

    credentials_key: SecretStr = SecretStr("")
    credentials_kms_key_id: str = ""
    bot_token_service_url: HttpUrl = HttpUrl("https://token.botframework.com")
    bot_service_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(BOT_SERVICE_HOSTS))
    content_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    data_dir: Path | None = None
    analytics_max_file_mb: int = Field(default=200, ge=1, le=10_000)
    analytics_file_memory_minutes: int = Field(default=30, ge=0, le=55)  # Teams' download links live about an hour
    # At 512 MB the analysis process cannot import pyarrow, so every Parquet file was "cannot read" (docs/settings.md)
    analytics_memory_mb: int = Field(default=4096, ge=1024, le=65_536)
    analytics_processes: int = Field(default=2, ge=1, le=32)
    analytics_engine: Literal["auto", "local", "spark"] = "auto"
    analytics_spark_rows: int = Field(default=5_000_000, ge=1)
    analytics_spark_mb: int = Field(default=200, ge=1)
    analytics_prefix_max_gb: int = Field(default=100, ge=1, le=100_000)  # one table's prefix or folder, listed
    # EMR Serverless (docs/deploy.md): set by template.yaml when EnableEmrServerless is true, else empty
    emr_application_id: str = ""
    emr_job_role_arn: str = ""
    emr_job_uri: str = ""  # s3://…/spark_job.py, uploaded by `make emr-artifacts`
    emr_code_uri: str = ""  # s3://…/gateway.zip: services/ for the job's --py-files
    emr_output_prefix: str = ""  # s3://…/emr-results/: the job writes <job id>/result.json there
    download_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(MICROSOFT_FILE_HOSTS))
    s3_allowed_buckets: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Monitors (docs/monitors.md): who may create them, when unreadable data pauses one, the local tick
    monitor_creators: Literal["admins", "members"] = "admins"
    monitor_unreadable_limit: int = Field(default=3, ge=1, le=100)
    monitor_tick_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)

    dedupe_ttl_seconds: int = Field(default=6 * 3600, ge=60)
    max_concurrent_turns: int = Field(default=32, ge=1, le=1024)
    accept_lease_seconds: float = Field(default=30.0, gt=0, le=900)
    queue_lease_seconds: float = Field(default=120.0, gt=0, le=86_400)
    turn_timeout_seconds: float = Field(default=300.0, gt=0, le=900)
    queue_visibility_timeout_seconds: float = Field(default=0.0, ge=0, le=43_200)
    # Flow control at the ingress (token buckets in the store) and in the in-process queue; 0 turns a rate off.
    user_turns_per_minute: float = Field(default=20.0, ge=0, le=6000)
    user_turn_burst: int = Field(default=10, ge=1, le=1000)
    tenant_turns_per_minute: float = Field(default=600.0, ge=0, le=600_000)
    tenant_turn_burst: int = Field(default=200, ge=1, le=100_000)
    slow_down_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_queued_turns_per_user: int = Field(default=10, ge=0, le=1000)

    store: Literal["sqlite", "dynamodb"] = "sqlite"
    dynamodb_table: str = ""
    queue: Literal["inprocess", "sqs"] = "inprocess"
    chat_queue_url: str = ""
    analytics_queue_url: str = ""
    job_max_receives: int = Field(default=3, ge=1, le=1000)
    app_password_secret_arn: str = ""
    # Lambda only: an SSM Parameter Store path whose parameters are more settings (services/deployed_settings.py)
    settings_parameter_path: str = Field(default="", pattern=r"^((/[A-Za-z0-9_.-]+)+)?$")

    @field_validator("microsoft_app_type", mode="before")
    @classmethod
    def _app_type_any_case(cls, value: object) -> object:
        if isinstance(value, str):
            for option in ("MultiTenant", "SingleTenant"):
                if value.strip().lower() == option.lower():
                    return option
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("sentry_dsn")
    @classmethod
    def _dsn_shape(cls, value: SecretStr) -> SecretStr:
        dsn = value.get_secret_value().strip()
        if dsn:
            parts = urlsplit(dsn)
            if parts.scheme not in ("http", "https") or not parts.username or not parts.hostname:
                raise ValueError("must be the DSN from Sentry's project settings, like https://<key>@<host>/<id>")
            if not parts.path.strip("/"):
                raise ValueError("must end with the project id, like https://<key>@<host>/<id>")
        return SecretStr(dsn)

    @field_validator("backend", "store", "queue", "qbusiness_identity", "agentcore_auth", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("qbusiness_chat_mode", mode="before")
    @classmethod
    def _chat_mode_upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("allowed_tenants", "allowed_channels", "download_allowed_hosts", "s3_allowed_buckets",
                     "admin_users", "bot_service_hosts", "content_allowed_hosts", mode="before")  # fmt: skip
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("host")
    @classmethod
    def _host_shape(cls, value: str) -> str:
        import ipaddress

        value = value.strip()
        if re.fullmatch(r"[0-9.]+|.*:.*", value):  # written as an IP address: it must be one
            try:
                ipaddress.ip_address(value.strip("[]"))
            except ValueError:
                raise ValueError(
                    "is not an IP address (use 127.0.0.1 for this machine only, 0.0.0.0 for all)"
                ) from None
        elif not re.fullmatch(
            r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
            value,
        ):
            raise ValueError("must be an IP address or a host name, like 127.0.0.1 or localhost")
        return value

    @field_validator("allowed_tenants")
    @classmethod
    def _tenant_ids(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not re.fullmatch(GUID, entry):
                raise ValueError(
                    f"{entry[:60]!r} is not a tenant id: give Entra ID tenant ids (GUIDs such as 72f988bf-86f1-41af-"
                    "91ab-2d7cd011db47, Azure portal → Microsoft Entra ID → Overview), comma-separated"
                )
        return value

    @field_validator("download_allowed_hosts", "bot_service_hosts", "content_allowed_hosts")
    @classmethod
    def _host_patterns(cls, value: list[str]) -> list[str]:
        return [check_host_pattern(entry) for entry in value]

    @field_validator("credentials_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            from cryptography.fernet import Fernet

            try:
                Fernet(value.get_secret_value())
            except ValueError:
                raise ValueError(
                    "must be a Fernet key (32 url-safe base64-encoded bytes): make one with "
                    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
                ) from None
        return value

    @field_validator("bot_openid_metadata_url", "data_dir", "usage_prices_file", "audit_dir", "routes_file",
                     mode="before")  # fmt: skip
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "user_daily_token_limit", "user_daily_cost_limit", "team_monthly_token_limit", "team_monthly_cost_limit",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_or_zero_is_no_limit(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return None if value in (0, "0", 0.0) else value

    @field_validator("usage_prices_file")
    @classmethod
    def _prices_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file (a JSON price table, see docs/usage.md)")
        return value

    @model_validator(mode="after")
    def _no_loopback_service_hosts_on_lambda(self) -> Settings:
        # Loopback entries (`http://…`) are for the local emulator: on Lambda a job naming 127.0.0.1 would send
        # the bot's token to whatever listens on the function's own loopback.
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and any(h.startswith("http://") for h in self.bot_service_hosts):
            raise ValueError(
                "BOT_SERVICE_HOSTS lists a loopback host (http://…): that is for the local emulator "
                "(python -m bot serve --dev), never on Lambda"
            )
        return self

    @model_validator(mode="after")
    def _single_tenant_needs_tenant(self) -> Settings:
        if self.microsoft_app_type == "SingleTenant":
            if not self.microsoft_app_id:
                raise ValueError("MICROSOFT_APP_ID: required when MICROSOFT_APP_TYPE is SingleTenant")
            if not self.microsoft_app_tenant_id:
                raise ValueError("MICROSOFT_APP_TENANT_ID: required when MICROSOFT_APP_TYPE is SingleTenant")
        if bool(self.bedrock_guardrail_id) != bool(self.bedrock_guardrail_version):
            raise ValueError("BEDROCK_GUARDRAIL_VERSION: set both BEDROCK_GUARDRAIL_ID and BEDROCK_GUARDRAIL_VERSION")
        self._check_backend()
        password = self.microsoft_app_password.get_secret_value() or self.app_password_secret_arn
        if self.microsoft_app_id and not password:
            raise ValueError("MICROSOFT_APP_PASSWORD: required when MICROSOFT_APP_ID is set")
        if self.store == "dynamodb" and not self.dynamodb_table:
            raise ValueError("DYNAMODB_TABLE: required when STORE is dynamodb")
        if self.queue == "sqs" and not (self.chat_queue_url and self.analytics_queue_url):
            raise ValueError("CHAT_QUEUE_URL: set CHAT_QUEUE_URL and ANALYTICS_QUEUE_URL when QUEUE is sqs")
        return self

    def _check_backend(self) -> None:
        from services.backends.registry import UnknownBackend, check_backend_settings

        if self.routes_file or self.routes_s3_uri:  # BACKEND is not used: the table's named backends are checked
            return  # when it is read (services/routing.py, each with BACKEND set to its type)
        try:
            check_backend_settings(self.backend, self)
        except UnknownBackend as unknown:
            raise ValueError(f"BACKEND: {unknown}") from None

    @property
    def anonymous(self) -> bool:
        """True in local development mode: no app id, so requests are not authenticated."""
        return not self.microsoft_app_id


def load_settings(**overrides: object) -> Settings:
    """Return the settings from the environment (and `.env`), with `overrides` applied on top.

    Raises SettingsError with one line naming the offending variable.
    """
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_one_line(error)) from None


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if not location:  # a model-level rule: its message starts with the variable name
        return f"Invalid setting {message}"
    value = first.get("input")
    secret = location.endswith(("password", "dsn", "credentials_key"))
    shown = "" if isinstance(value, dict) or secret else f" (got {value!r})"
    return f"Invalid setting {location.upper()}: {message}{shown}"

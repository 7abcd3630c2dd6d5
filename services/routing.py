"""Several named backends in one deployment, and the route table that picks one per turn (docs/routing.md).

The route table is a TOML or JSON document (ROUTES_FILE, or the S3 object ROUTES_S3_URI read at start-up):
named backends, each with its type and its own settings (the global settings with these overrides), the
default backend, the rules that map tenant, team, channel, chat type or user to a backend, and which backends
users may list (`agents`) and pick (`use <name>`).

A turn's backend: the user's choice in this conversation (when still allowed), else the matching rule with the
most specific fields (channel 16, team 8, user 4, chat type 2, tenant 1; ties: the earlier rule), else the
default. Everything is checked at start-up; a mistake is one line naming the route table and what to fix.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.settings import Settings, SettingsError

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_TABLE_BYTES = 256 * 1024
MAX_BACKENDS = 32
MAX_ROUTES = 1000
_WEIGHTS = {"channel": 16, "team": 8, "user": 4, "chat_type": 2, "tenant": 1}
# Settings a route table may not give one backend: they belong to the whole deployment.
_SHARED = frozenset({"backend", "routes_file", "routes_s3_uri", "microsoft_app_id", "microsoft_app_password",
                     "microsoft_app_type", "microsoft_app_tenant_id", "store", "queue", "dynamodb_table",
                     "state_db", "usage_table", "admin_users", "allowed_tenants"})  # fmt: skip


class BackendSpec(BaseModel):
    """One named backend: its type, the name users see, a line for `agents`, its own settings."""

    model_config = ConfigDict(extra="forbid")

    type: str
    title: str = Field("", max_length=80)
    description: str = Field("", max_length=300)
    settings: dict[str, Any] = Field(default_factory=dict)


class Route(BaseModel):
    """A rule: every field given must match the turn; `backend` answers it."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    tenant: str = ""
    team: str = ""
    channel: str = ""
    chat_type: Literal["", "personal", "groupChat", "channel"] = ""
    user: str = ""

    @field_validator("channel")
    @classmethod
    def _channel_without_thread(cls, value: str) -> str:
        return value.split(";messageid=", 1)[0]


class RouteFile(BaseModel):
    """The route table document."""

    model_config = ConfigDict(extra="forbid")

    default: str
    choosable: list[str] | Literal["*"] = Field(default_factory=list)
    backends: dict[str, BackendSpec]
    routes: list[Route] = Field(default_factory=list, max_length=MAX_ROUTES)


@dataclass(frozen=True)
class Where:
    """Where a turn happened and who sent it, as the route table matches it."""

    tenant: str = ""
    team: str = ""
    channel: str = ""
    chat_type: str = ""
    user: str = ""


class RouteTable:
    """The checked route table: `route(where, chosen)` returns a backend name in O(rules)."""

    def __init__(self, document: RouteFile, source: str = "the route table") -> None:
        self.source = source
        self.default = document.default
        self.specs = document.backends
        names = list(document.backends)
        self.choosable = tuple(names if document.choosable == "*" else document.choosable)
        # Rules grouped by the fields they give: per group, a dict from the values to the first rule's
        # (weight, order, backend), so a turn costs one lookup per group (at most 31), however many rules.
        groups: dict[tuple[str, ...], dict[tuple[str, ...], tuple[int, int, str]]] = {}
        for order, route in enumerate(document.routes):
            fields = tuple(f for f in _WEIGHTS if getattr(route, f))
            values = tuple(getattr(route, f) for f in fields)
            groups.setdefault(fields, {}).setdefault(values, (-sum(_WEIGHTS[f] for f in fields), order, route.backend))
        self._groups = sorted(groups.items(), key=lambda item: -sum(_WEIGHTS[f] for f in item[0]))

    @property
    def names(self) -> list[str]:
        """The named backends, the default first."""
        return [self.default, *(n for n in self.specs if n != self.default)]

    def title(self, name: str) -> str:
        """Return the name users see for backend `name`."""
        spec = self.specs.get(name)
        return (spec.title if spec else "") or name

    def may_choose(self, name: str) -> bool:
        """True when users may pick `name` with `use`."""
        return name in self.choosable

    def route(self, where: Where, chosen: str = "") -> str:
        """Return the backend for a turn: `chosen` (the conversation's `use`) when allowed, else the most
        specific matching rule, else the default."""
        if chosen and chosen in self.choosable and chosen in self.specs:
            return chosen
        best: tuple[int, int, str] | None = None
        for fields, rules in self._groups:
            found = rules.get(tuple(getattr(where, f) for f in fields))
            if found is not None and (best is None or found < best):
                best = found
        return best[2] if best is not None else self.default


def single(name: str, title: str = "") -> RouteTable:
    """Return the route table of a deployment with one backend (BACKEND, no route table)."""
    return RouteTable(RouteFile(default=name, backends={name: BackendSpec(type=name, title=title)}))


def parse_route_table(text: str, source: str, *, json_text: bool = False) -> RouteTable:
    """Return the checked RouteTable of a TOML (or JSON) document; raise SettingsError (one line) when it is
    malformed or names an unknown backend."""
    if len(text.encode()) > MAX_TABLE_BYTES:
        raise SettingsError(f"Invalid setting {source}: the route table is over {MAX_TABLE_BYTES // 1024} KB")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates) if json_text else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(
            f"Invalid setting {source}: not valid {'JSON' if json_text else 'TOML'} ({error})"
        ) from None
    except RecursionError:  # both parsers recurse per level of nesting; a route table needs four
        raise SettingsError(f"Invalid setting {source}: the route table is nested too deeply") from None
    try:
        document = RouteFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SettingsError(f"Invalid setting {source}: {where}: {first['msg']}") from None
    _check_names(document, source)
    return RouteTable(document, source)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently; TOML refuses them, and so do we.
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key!r} is given twice")
        found[key] = value
    return found


def _check_names(document: RouteFile, source: str) -> None:
    if not document.backends or len(document.backends) > MAX_BACKENDS:
        raise SettingsError(f"Invalid setting {source}: name 1 to {MAX_BACKENDS} backends under [backends]")
    for name in document.backends:
        if not NAME.fullmatch(name):
            raise SettingsError(
                f"Invalid setting {source}: backend name {name!r} must be 1-32 lower-case letters, digits, - or _"
            )
    known = set(document.backends)
    named = [("default", document.default)]
    named += [("choosable", n) for n in ([] if document.choosable == "*" else document.choosable)]
    named += [(f"routes[{i}].backend", r.backend) for i, r in enumerate(document.routes)]
    for where, name in named:
        if name not in known:
            raise SettingsError(
                f"Invalid setting {source}: {where} names the unknown backend {name!r} "
                f"(the route table names: {', '.join(sorted(known))})"
            )


def backend_settings(settings: Settings, name: str, spec: BackendSpec, source: str) -> Settings:
    """Return the settings of backend `name`: the global settings with the spec's own on top and BACKEND set
    to its type, checked (its type's settings check included). Raises SettingsError, one line."""
    overrides = {key.lower(): value for key, value in spec.settings.items()}
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(f"Invalid setting {source}: backend {name!r}: no setting {unknown[0].upper()}")
    shared = sorted(set(overrides) & _SHARED)
    if shared:
        raise SettingsError(
            f"Invalid setting {source}: backend {name!r}: {shared[0].upper()} is set for the whole deployment"
        )
    # a named backend is not itself routed: without the table's location its type's settings are checked
    values = {**settings.model_dump(), **overrides, "backend": spec.type, "routes_file": None, "routes_s3_uri": ""}
    try:
        return Settings(_env_file=None, **values)
    except ValidationError as error:
        from services.settings import _one_line

        line = _one_line(error).removeprefix("Invalid setting ")
        raise SettingsError(f"Invalid setting {source}: backend {name!r}: {line}") from None


def load_route_table(settings: Settings, *, s3: Any = None) -> RouteTable | None:
    """Return the route table ROUTES_FILE or ROUTES_S3_URI names (None when neither is set). `s3` is a boto3
    S3 client (tests pass one)."""
    if settings.routes_file:
        path = Path(settings.routes_file)
        try:
            with path.open("rb") as file:  # at most one byte over the bound: a huge file is not read whole
                raw = file.read(MAX_TABLE_BYTES + 1)
        except OSError as error:
            raise SettingsError(f"Invalid setting ROUTES_FILE: cannot read {path} ({error.strerror})") from None
        if len(raw) > MAX_TABLE_BYTES:
            raise SettingsError(f"Invalid setting ROUTES_FILE: the route table is over {MAX_TABLE_BYTES // 1024} KB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SettingsError(f"Invalid setting ROUTES_FILE: {path} is not UTF-8 text") from None
        return parse_route_table(text, "ROUTES_FILE", json_text=path.suffix.lower() == ".json")
    if settings.routes_s3_uri:
        bucket, _, key = settings.routes_s3_uri.removeprefix("s3://").partition("/")
        if not settings.routes_s3_uri.startswith("s3://") or not bucket or not key:
            raise SettingsError("Invalid setting ROUTES_S3_URI: must be s3://<bucket>/<key>")
        return parse_route_table(_read_s3(bucket, key, s3), "ROUTES_S3_URI", json_text=key.lower().endswith(".json"))
    return None


def _read_s3(bucket: str, key: str, s3: Any) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from services.errors import describe_error

    client = s3 or boto3.client("s3")
    try:
        response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_TABLE_BYTES}")
        return response["Body"].read().decode("utf-8")
    except (ClientError, BotoCoreError, UnicodeDecodeError) as error:
        raise SettingsError(f"Invalid setting ROUTES_S3_URI: cannot read it ({describe_error(error)})") from None


@dataclass
class Deployment:
    """The deployment's backends by name (the default first), each one's type, and the route table."""

    backends: dict[str, Any]
    types: dict[str, str]
    routes: RouteTable


def named_settings(settings: Settings, routes: RouteTable | None) -> dict[str, Settings]:
    """Return each named backend's own settings, checked (one backend: `settings` under its type's name)."""
    if routes is None:
        return {settings.backend: settings}
    return {name: backend_settings(settings, name, routes.specs[name], routes.source) for name in routes.names}


def create_deployment(settings: Settings, store: Any = None, routes: RouteTable | None = None) -> Deployment:
    """Return every backend of the deployment: the route table's named backends, or the one BACKEND names.
    Raises SettingsError (one line) for an unknown type or a backend whose settings are missing."""
    from services.backends.registry import create_named

    routes = routes if routes is not None else load_route_table(settings)
    backends: dict[str, Any] = {}
    types: dict[str, str] = {}
    for name, own in named_settings(settings, routes).items():
        backends[name] = create_named(own.backend, own, store, name)
        types[name] = own.backend
    return Deployment(backends, types, routes or single(settings.backend))


def sign_in_connection(settings: Settings, routes: RouteTable | None = None) -> str:
    """Return the bot's OAuth connection the users sign in with ('' when no backend acts as the user). Raises
    SettingsError when the named backends want different connections: one per deployment."""
    from services.backends.registry import backend_type

    routes = routes if routes is not None else load_route_table(settings)
    wanted = {
        connection
        for own in named_settings(settings, routes).values()
        if (connection := backend_type(own.backend).sign_in_connection(own))
    }
    if len(wanted) > 1:
        raise SettingsError(
            f"Invalid setting {routes.source if routes else 'BACKEND'}: the backends sign users in with different "
            f"OAuth connections ({', '.join(sorted(wanted))}); a deployment has one"
        )
    return next(iter(wanted), "")

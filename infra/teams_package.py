"""`python -m infra.teams_package`: the Teams app package an admin uploads.

Writes build/appPackage.zip with manifest.json, color.png (192×192) and outline.png (32×32, white on
transparent). The bot id comes from MICROSOFT_APP_ID, the descriptions from BACKEND (what the operator chooses to
describe), and the command lists from the Router itself (built with a stub backend), so the menu Teams shows
cannot drift from the bot. Only what the manifest needs is read (PackageSettings), not the whole gateway's
settings: no model id, no Identity Center set-up, no password. Only requirements.txt is needed: the icons are
drawn here and written as PNG with zlib (tests/test_teams_package.py checks the import graph).
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import tomllib
import uuid
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.teams_text import plain_text, shorten
from services.settings import REPO_ROOT, Settings

MANIFEST_VERSION = "1.19"
SCHEMA_URL = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
SCOPES = ["personal", "team", "groupChat"]
ACCENT = "#232F3E"
ANALYTICS = "It also evaluates predictions, checks datasets for drift and ranks who to treat in an experiment, from "


def analytics_sentence(settings: Any) -> str:
    """Return the analytics sentence of the description: files attached in a personal chat, and only the named
    sources the settings allow (S3 when S3_ALLOWED_BUCKETS lists buckets, a data folder when DATA_DIR is set)."""
    named = [
        where
        for where, on in (("S3", settings.s3_allowed_buckets), ("the gateway's data folder", settings.data_dir))
        if on
    ]
    return ANALYTICS + "files attached in a personal chat" + (f" or named in {' or '.join(named)}." if named else ".")


COMMANDS_PER_LIST = 10  # the manifest schema's limit


class PackageError(ValueError):
    """The package cannot be built from these settings; the message says what to set."""


class PackageSettings(Settings):
    """The gateway's settings (environment and `.env`) without the rules that tie them together: building the
    manifest needs no model id, Identity Center set-up or password, only the app id and what it describes.
    A value that is set is still checked (one line naming the variable)."""

    def _single_tenant_needs_tenant(self) -> PackageSettings:  # overrides the model validator: not run here
        return self


class _StubBackend:
    """Only what registering the commands reads from a backend: nothing is ever asked."""

    max_input_chars = 1
    status_text = ""

    def __init__(self, name: str, signs_in: bool) -> None:
        from services.backends import Capabilities

        self.name = name
        # a backend that acts as the user forgets them at sign-out, and the Router has `signout`
        self.capabilities = Capabilities(acts_as_user=signs_in, signs_out=signs_in)

    async def forget(self, identity: Any) -> None:  # registration only: never called
        return None


def bot_commands(settings: Any) -> list[dict[str, str]]:
    """Return the manifest's commands: every command of the Router (help first), title and plain description."""
    from handlers.analytics import AnalyticsConfig, register_analytics
    from handlers.app import build_router
    from services.routing import load_route_table, sign_in_connection, single

    table = load_route_table(settings)
    routes = table or single(settings.backend)
    signs_in = bool(sign_in_connection(settings, table))
    stubs = {name: _StubBackend(name, signs_in) for name in routes.names}
    # The worker has the `usage` command when it counts usage: the rule of usage_service_from_settings.
    counts_usage = bool(settings.usage_table) or settings.store != "dynamodb"
    usage: Any = object() if counts_usage else None  # registration only: never called
    router = build_router(stubs, None, usage, routes=routes)  # the handlers are registered, never run
    register_analytics(router, stubs[routes.default], AnalyticsConfig.from_settings(settings))
    commands = [
        {"title": command.name[:32], "description": shorten(plain_text(command.description), 128)}
        for command in router.visible_commands()  # an administrators' command is in no one's menu
    ]
    if len(commands) > COMMANDS_PER_LIST:
        raise PackageError(f"The Router has {len(commands)} commands; a Teams command list holds {COMMANDS_PER_LIST}.")
    return commands


def _project() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")  # the manifest schema's pattern
PLACEHOLDERS = {"developer": "Your company", "website": "https://github.com/"}
NAMES = {"short": "AI Gateway", "full": "Company AI gateway"}


def default_backend_settings(settings: Any) -> Any:
    """Return the settings of the backend the manifest describes: BACKEND's, or the route table's default's."""
    from services.routing import load_route_table, named_settings

    routes = load_route_table(settings)
    return named_settings(settings, routes)[routes.default] if routes else settings


def release_version() -> str:
    """Return the release's version (pyproject.toml) as the manifest wants it: MAJOR.MINOR.PATCH."""
    return _project()["version"].split("+")[0]


def manifest(
    settings: Any,
    *,
    developer: str,
    website: str,
    valid_domains: list[str],
    version: str | None = None,
    privacy_url: str | None = None,
    terms_url: str | None = None,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Return the manifest for `settings` (PackageSettings, or the gateway's Settings); raise PackageError when
    MICROSOFT_APP_ID is not set or a value would be refused by Teams. `version` defaults to the release's."""
    app_id = settings.microsoft_app_id
    if not app_id:
        raise PackageError("Set MICROSOFT_APP_ID (the Azure Bot's app id): the package names the bot by it.")
    try:
        uuid.UUID(app_id)
    except ValueError:
        raise PackageError(f"MICROSOFT_APP_ID must be the Azure Bot's app id, a GUID (got {app_id[:40]!r}).") from None
    version = version or release_version()
    if not VERSION.fullmatch(version):
        raise PackageError(f"--version must be MAJOR.MINOR.PATCH, like 1.4.2 (got {version[:40]!r}).")
    for label, url in (("--website", website), ("--privacy-url", privacy_url), ("--terms-url", terms_url)):
        if url is not None and not re.fullmatch(r"https://[^\s/]+(/\S*)?", url):
            raise PackageError(f"{label} must be an https:// URL (got {url[:60]!r}).")
    names = NAMES | (names or {})
    if not developer.strip() or not names["short"].strip():
        raise PackageError("--developer and --name-short must not be empty.")
    from services.backends.registry import backend_type

    own = default_backend_settings(settings)
    kind = backend_type(own.backend)  # the default backend's type says what the gateway does
    short, full = kind.summary, kind.description
    if kind.as_user and kind.sign_in_connection(own):
        full += " " + kind.as_user
    full += " " + analytics_sentence(settings)
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,  # Teams refuses an update whose version it has already
        "id": app_id,  # the Teams app id: the bot's own id keeps one id per deployment
        "developer": {
            "name": developer[:32],
            "websiteUrl": website,
            "privacyUrl": privacy_url or website,
            "termsOfUseUrl": terms_url or website,
        },
        "name": {"short": names["short"][:30], "full": names["full"][:100]},
        "description": {"short": short, "full": full},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [
            {
                "botId": app_id,
                "scopes": SCOPES,
                "supportsFiles": True,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": SCOPES, "commands": bot_commands(settings)}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        # token.botframework.com: Teams single sign-on's token exchange (the Q Business backend needs SSO).
        "validDomains": sorted({"token.botframework.com", *valid_domains}),
        "webApplicationInfo": {"id": app_id, "resource": f"api://botid-{app_id}"},
    }


def png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int, int]]) -> bytes:
    """Return an RGBA PNG whose pixel (x, y) is `pixel(x, y)`. Written with zlib and struct rather than Pillow,
    so that building the package needs nothing beyond requirements.txt (Pillow is a test-only dependency)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _in_rounded_box(x: float, y: float, box: tuple[float, float, float, float], radius: float) -> bool:
    left, top, right, bottom = box
    if not (left <= x <= right and top <= y <= bottom):
        return False
    cx = min(max(x, left + radius), right - radius)
    cy = min(max(y, top + radius), bottom - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def _in_tail(x: float, y: float) -> bool:  # the bubble's tail: the triangle (9, 21), (9, 28), (16, 21)
    return x >= 9 and y >= 21 and (x - 9) + (y - 21) <= 7


def _in_dot(x: float, y: float) -> bool:  # the three dots of a chat, centred at (11|16|21, 13.5)
    return any((x - cx) ** 2 + (y - 13.5) ** 2 <= 1.5**2 for cx in (11, 16, 21))


BUBBLE = (4.0, 5.0, 28.0, 22.0)


def icons() -> dict[str, bytes]:
    """Return color.png (192×192, a white chat bubble with three dots on the accent colour) and outline.png
    (32×32, the bubble's outline, tail and dots in white on transparent), drawn on a 32-unit grid."""
    accent = tuple(int(ACCENT[i : i + 2], 16) for i in (1, 3, 5))
    samples = 3  # anti-aliasing of the colour icon: 3 × 3 samples per pixel

    def color(x: int, y: int) -> tuple[int, int, int, int]:
        white = 0
        for i in range(samples):
            for j in range(samples):
                u, v = (x + (i + 0.5) / samples) / 6, (y + (j + 0.5) / samples) / 6  # 192 px = 32 units
                if (_in_rounded_box(u, v, BUBBLE, 5) or _in_tail(u, v)) and not _in_dot(u, v):
                    white += 1
        share = white / samples**2
        return (*(round(c + (255 - c) * share) for c in accent), 255)

    inner = (BUBBLE[0] + 2, BUBBLE[1] + 2, BUBBLE[2] - 2, BUBBLE[3] - 2)

    def outline(x: int, y: int) -> tuple[int, int, int, int]:  # white or transparent only, as Teams requires
        u, v = x + 0.5, y + 0.5
        ring = _in_rounded_box(u, v, BUBBLE, 5) and not _in_rounded_box(u, v, inner, 3)
        return (255, 255, 255, 255) if ring or _in_tail(u, v) or _in_dot(u, v) else (0, 0, 0, 0)

    return {"color.png": png(192, 192, color), "outline.png": png(32, 32, outline)}


def build(settings: Any, out: Path, **details: Any) -> Path:
    """Write the app package to `out` (a .zip) and return its path."""
    files = {"manifest.json": json.dumps(manifest(settings, **details), indent=2).encode(), **icons()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in files.items():
            package.writestr(name, data)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point: build the package from MICROSOFT_APP_ID, BACKEND and the options; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m infra.teams_package", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "appPackage.zip")
    parser.add_argument(
        "--version",
        help=f"the app's version, MAJOR.MINOR.PATCH (default: the release's, {release_version()}); raise it for "
        "each new upload: Teams refuses a version it has",
    )
    parser.add_argument("--developer", default=PLACEHOLDERS["developer"], help="the developer name Teams shows (≤ 32)")
    parser.add_argument("--website", default=PLACEHOLDERS["website"], help="https URL of your support page")
    parser.add_argument("--privacy-url", help="https URL of your privacy statement (default: --website)")
    parser.add_argument("--terms-url", help="https URL of your terms of use (default: --website)")
    parser.add_argument("--name-short", default=NAMES["short"], help="the app's name in Teams (≤ 30)")
    parser.add_argument("--name-full", default=NAMES["full"], help="its full name (≤ 100)")
    parser.add_argument("--valid-domain", action="append", default=[], help="a domain the app may open (repeatable)")
    args = parser.parse_args(argv)
    try:
        settings = PackageSettings()
        details = {
            "developer": args.developer, "website": args.website, "valid_domains": args.valid_domain,
            "version": args.version, "privacy_url": args.privacy_url, "terms_url": args.terms_url,
            "names": {"short": args.name_short, "full": args.name_full},
        }  # fmt: skip
        path = build(settings, args.out, **details)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])).upper()
        print(f"cannot build the Teams app package: Invalid setting {where}: {first['msg']}", file=sys.stderr)
        return 2
    except PackageError as problem:
        print(f"cannot build the Teams app package: {problem}", file=sys.stderr)
        return 2
    version = json.loads(zipfile.ZipFile(path).read("manifest.json"))["version"]
    described = default_backend_settings(settings).backend
    for option, placeholder in PLACEHOLDERS.items():
        if getattr(args, option) == placeholder:
            print(f"warning: --{option} is the placeholder {placeholder!r}: Teams shows it to every user; "
                  f"give yours (make teams-package ARGS='--{option} ...')", file=sys.stderr)  # fmt: skip
    # The description is the backend's: with only the app id it is BACKEND's default (local), not the stack's.
    print(
        f"wrote {path} (version {version}, describing the {described} backend: set BACKEND to the stack's Backend "
        "if it is another; upload it in Teams: Apps › Manage your apps › Upload an app)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

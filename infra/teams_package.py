"""`python -m infra.teams_package`: the Teams app package an admin uploads, built from the settings.

Writes build/appPackage.zip with manifest.json, color.png (192×192) and outline.png (32×32, white on
transparent). The bot id comes from MICROSOFT_APP_ID, the descriptions from BACKEND, and the command lists
from the Router itself (built with a stub backend), so the menu Teams shows cannot drift from the bot.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path
from typing import Any

from bot.teams_text import plain_text, shorten
from services.settings import REPO_ROOT, Settings, SettingsError, load_settings

MANIFEST_VERSION = "1.19"
SCHEMA_URL = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
SCOPES = ["personal", "team", "groupChat"]
ACCENT = "#232F3E"
ANALYTICS = "It also evaluates predictions, checks datasets for drift and ranks who to treat in an experiment, from "


def analytics_sentence(settings: Settings) -> str:
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


def bot_commands(settings: Settings) -> list[dict[str, str]]:
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
        for command in router.commands.values()
    ]
    if len(commands) > COMMANDS_PER_LIST:
        raise PackageError(f"The Router has {len(commands)} commands; a Teams command list holds {COMMANDS_PER_LIST}.")
    return commands


def _project() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def manifest(settings: Settings, *, developer: str, website: str, valid_domains: list[str]) -> dict[str, Any]:
    """Return the manifest for `settings`; raise PackageError when MICROSOFT_APP_ID is not set."""
    app_id = settings.microsoft_app_id
    if not app_id:
        raise PackageError("Set MICROSOFT_APP_ID (the Azure Bot's app id): the package names the bot by it.")
    try:
        uuid.UUID(app_id)
    except ValueError:
        raise PackageError(f"MICROSOFT_APP_ID must be the Azure Bot's app id, a GUID (got {app_id[:40]!r}).") from None
    from services.backends.registry import backend_type
    from services.routing import load_route_table, named_settings

    routes = load_route_table(settings)
    own = named_settings(settings, routes)[routes.default] if routes else settings
    kind = backend_type(own.backend)  # the default backend's type says what the gateway does
    short, full = kind.summary, kind.description
    if kind.as_user and kind.sign_in_connection(own):
        full += " " + kind.as_user
    full += " " + analytics_sentence(settings)
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": _project()["version"],
        "id": app_id,  # the Teams app id: the bot's own id keeps one id per deployment
        "developer": {
            "name": developer[:32],
            "websiteUrl": website,
            "privacyUrl": website,
            "termsOfUseUrl": website,
        },
        "name": {"short": "AI Gateway", "full": "Company AI gateway"},
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


def icons() -> dict[str, bytes]:
    """Return color.png (192×192, a white chat bubble on the accent colour) and outline.png (32×32, the
    bubble's outline in white on transparent), drawn with Pillow."""
    from PIL import Image, ImageDraw

    def bubble(size: int, background: str | None, fill: str | None, width: int) -> bytes:
        image = Image.new("RGBA", (size, size), background or (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        s = size / 32  # drawn on a 32-unit grid
        box = (4 * s, 5 * s, 28 * s, 22 * s)
        draw.rounded_rectangle(box, radius=5 * s, fill=fill, outline="white", width=width)
        draw.polygon([(9 * s, 21 * s), (9 * s, 28 * s), (16 * s, 21 * s)], fill=fill or "white")
        for x in (11, 16, 21):  # the three dots of a chat
            dot = "#232F3E" if fill else "white"
            draw.ellipse(((x - 1.5) * s, 12 * s, (x + 1.5) * s, 15 * s), fill=dot)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()

    return {"color.png": bubble(192, ACCENT, "white", 0), "outline.png": bubble(32, None, None, 2)}


def build(settings: Settings, out: Path, **details: Any) -> Path:
    """Write the app package to `out` (a .zip) and return its path."""
    files = {"manifest.json": json.dumps(manifest(settings, **details), indent=2).encode(), **icons()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in files.items():
            package.writestr(name, data)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point: build the package from the environment's settings; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m infra.teams_package", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "appPackage.zip")
    parser.add_argument("--developer", default="Your company", help="the developer name Teams shows (≤ 32)")
    parser.add_argument("--website", default="https://github.com/", help="https URL for support, privacy, terms")
    parser.add_argument("--valid-domain", action="append", default=[], help="a domain the app may open (repeatable)")
    args = parser.parse_args(argv)
    try:
        # The package holds no secret: the app password, required beside MICROSOFT_APP_ID to run, is not needed.
        settings = load_settings(microsoft_app_password="not-needed-for-the-package")
        details = {"developer": args.developer, "website": args.website, "valid_domains": args.valid_domain}
        path = build(settings, args.out, **details)
    except (PackageError, SettingsError) as problem:
        print(f"cannot build the Teams app package: {problem}", file=sys.stderr)
        return 2
    print(f"wrote {path} (upload it in Teams: Apps › Manage your apps › Upload an app)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

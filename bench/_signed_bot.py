"""`python -m bot serve`'s server with authentication on, for bench/unauthenticated_refusal.py: requests are
signed by the loopback issuer of tests/test_auth.py (BOT_OPENID_METADATA_URL points at it) and replies carry a
fixed outgoing token (tests' FixedTokenFactory: no MSAL, so nothing leaves the machine). Same server code as
`python -m bot serve` (bot.edge_http.serve_app, bot.server.create_app, entrypoints.wiring.build_local)."""

from __future__ import annotations

from bot.edge_http import serve_app
from bot.server import create_app
from entrypoints.wiring import build_local
from services.observability.start import start_observability
from services.settings import load_settings
from tests.test_auth import FixedTokenFactory

if __name__ == "__main__":
    settings = load_settings()
    start_observability(settings, "server")
    serve_app(create_app(build_local(settings, credentials_factory=FixedTokenFactory())), settings.host, settings.port)

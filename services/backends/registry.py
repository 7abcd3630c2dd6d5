"""The backend types this gateway knows, found in this package, never listed by name.

A backend type is a module or package in `services/backends/` (its name is the type's, with `-` for `_`:
`bedrock-agent` is `services/backends/bedrock_agent.py` or `services/backends/bedrock_agent/`) that defines
`BACKEND_TYPE = BackendType(...)`. Nothing else names it: settings, start-up checks, the worker's Teams extras
and the price of an answer all come from `BACKEND_TYPE` and from the backend's `capabilities`.

A module is imported only when a deployment names its type, so a backend's libraries are loaded only where it
is used. Modules that are not backends (shared helpers) are listed in HELPERS or start with `_`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.backends.base import Backend

HELPERS = frozenset({"base", "history", "registry"})


def _no_check(settings: Any) -> None:
    return None


def _no_local_check(settings: Any) -> str | None:
    return None


def _no_connection(settings: Any) -> str:
    return ""


@dataclass(frozen=True)
class BackendType:
    """How the gateway makes and checks one kind of backend.

    - `name`: the type's name (`BACKEND=<name>`, `type: <name>` in a route file);
    - `create(settings, store, name)`: return the backend named `name` from its (namespaced) settings; `store`
      keeps per-user state some backends need;
    - `check(settings)`: raise ValueError("SETTING_NAME: what is missing or wrong") when the settings cannot
      make this backend (one line; start-up shows it and stops);
    - `sign_in_connection(settings)`: the bot's OAuth connection the users sign in with when the backend acts as
      the user ('' for none): the ingress and the worker then run the Teams sign-in;
    - `teams_extras`: "module:function" of the backend's Teams extras (commands, card actions, cards for
      FinalAnswer.pending kinds), called once per type by the worker with a `handlers.extras.Extras`; '' for none;
    - `summary`, `description`, `as_user`: what the Teams app package says the gateway does with this backend
      (at most 80 characters; a few sentences; one more sentence when users sign in to it);
    - `check_local(settings)`: what only a long-running server on this machine can check (a folder it reads):
      return the one line that stops `python -m bot serve`, or None (it may log a warning).
    """

    name: str
    create: Callable[[Any, Any, str], Backend]
    check: Callable[[Any], None] = _no_check
    sign_in_connection: Callable[[Any], str] = _no_connection
    teams_extras: str = ""
    summary: str = "Company AI, in Teams."
    description: str = "Answers questions in plain words with your company's AI assistant."
    as_user: str = ""
    check_local: Callable[[Any], str | None] = _no_local_check


class UnknownBackend(ValueError):
    """A setting or route file names a backend type this gateway does not have."""


def _module_name(type_name: str) -> str:
    return type_name.strip().lower().replace("-", "_")


def known_types() -> list[str]:
    """Return the names of every backend type in this package (without importing any), sorted."""
    import services.backends as package

    names = {
        info.name.replace("_", "-")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name not in HELPERS and not info.name.startswith("_")
    }
    return sorted(names)


def backend_type(name: str) -> BackendType:
    """Return the BackendType called `name`, importing its module. Raises UnknownBackend (one line naming the
    known types) when there is none."""
    known = known_types()
    if name.strip().lower() not in known:
        raise UnknownBackend(f"unknown backend type {name!r} (known: {', '.join(known)})")
    module_name = _module_name(name)
    module = importlib.import_module(f"services.backends.{module_name}")
    found = getattr(module, "BACKEND_TYPE", None)
    if not isinstance(found, BackendType):
        raise UnknownBackend(f"unknown backend type {name!r} (known: {', '.join(known)})")
    return found


def check_backend_settings(type_name: str, settings: Any) -> None:
    """Raise ValueError (one line) when `type_name` is unknown or `settings` cannot make such a backend."""
    backend_type(type_name).check(settings)


def create_named(type_name: str, settings: Any, store: Any = None, name: str = "") -> Backend:
    """Return a backend of type `type_name` called `name` (default: the type's name) from `settings`."""
    kind = backend_type(type_name)
    return kind.create(settings, store, name or kind.name)


def load_hook(path: str) -> Callable[..., Any]:
    """Return the function a "module:function" path names (a backend type's `teams_extras`)."""
    module, _, function = path.partition(":")
    return getattr(importlib.import_module(module), function)

# ruff: noqa: E501
"""Fourth pass: hostile route tables (the operator writes them: low severity unless start-up crashes without
one clear sentence). Each document goes through parse_route_table and, when it parses, backend_settings for
each backend; anything but a RouteTable or one SettingsError line is flagged.
Run: .venv/bin/python attack/routes_hostile.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from services.routing import backend_settings, parse_route_table  # noqa: E402
from services.settings import Settings, SettingsError  # noqa: E402

B = '[backends.a]\ntype = "local"\n'
DOCS = {
    "toml ok": 'default = "a"\n' + B,
    "json top-level list": ("[1, 2]", True),
    "json top-level null": ("null", True),
    "json 1e999": (
        '{"default": "a", "backends": {"a": {"type": "local", "settings": {"turn_timeout_seconds": 1e999}}}}',
        True,
    ),
    "json NaN": (
        '{"default": "a", "backends": {"a": {"type": "local", "settings": {"turn_timeout_seconds": NaN}}}}',
        True,
    ),
    "json huge int": (
        '{"default": "a", "backends": {"a": {"type": "local", "settings": {"turn_timeout_seconds": '
        + "9" * 5000
        + "}}}}",
        True,
    ),
    "json deep": ("[" * 100_000 + "]" * 100_000, True),
    "json lone surrogate": ('{"default": "\\ud800", "backends": {}}', True),
    "toml deep inline": "x = " + "[" * 3000 + "]" * 3000,
    "toml deep tables": "".join(f"[{'.'.join(['a'] * i)}]\n" for i in range(1, 400)),
    "toml default missing backend": 'default = "zz"\n' + B,
    "toml nul in string": 'default = "a\\u0000"\n' + B,
    "toml type unknown": 'default = "a"\n[backends.a]\ntype = "../../etc"\n',
    "toml settings nested dict": 'default = "a"\n' + B + "[backends.a.settings]\nturn_timeout_seconds = {x = 1}\n",
    "toml setting shared": 'default = "a"\n' + B + '[backends.a.settings]\nmicrosoft_app_password = "x"\n',
    "toml setting upper-case": 'default = "a"\n' + B + "[backends.a.settings]\nTURN_TIMEOUT_SECONDS = 5\n",
    "toml setting datetime": 'default = "a"\n'
    + B
    + "[backends.a.settings]\nturn_timeout_seconds = 1979-05-27T07:32:00Z\n",
    "toml setting bool for int": 'default = "a"\n' + B + "[backends.a.settings]\nturn_timeout_seconds = true\n",
    "toml setting negative": 'default = "a"\n' + B + "[backends.a.settings]\nturn_timeout_seconds = -1\n",
    "toml setting inf": 'default = "a"\n' + B + "[backends.a.settings]\nturn_timeout_seconds = inf\n",
    "toml setting nan": 'default = "a"\n' + B + "[backends.a.settings]\nturn_timeout_seconds = nan\n",
    "toml routes 1001": 'default = "a"\n' + B + '[[routes]]\nbackend = "a"\nuser = "u"\n' * 1001,
    "toml route unknown backend": 'default = "a"\n' + B + '[[routes]]\nbackend = "b"\n',
    "toml route empty (matches all)": 'default = "a"\n' + B + '[[routes]]\nbackend = "a"\n',
    "toml choosable unknown": 'default = "a"\nchoosable = ["b"]\n' + B,
    "toml name with unicode": 'default = "ä"\n[backends."ä"]\ntype = "local"\n',
    "toml 33 backends": 'default = "b0"\n' + "".join(f'[backends.b{i}]\ntype = "local"\n' for i in range(33)),
    "toml bom": '\ufeffdefault = "a"\n' + B,
    "toml crlf": ('default = "a"\r\n' + B).replace("\n", "\r\n"),
    "toml title 10k": 'default = "a"\n' + B + 'title = "' + "x" * 10_000 + '"\n',
    "toml settings path setting": 'default = "a"\n' + B + '[backends.a.settings]\nknowledge_dir = "/etc"\n',
}
flags = 0
for name, doc in DOCS.items():
    text, is_json = doc if isinstance(doc, tuple) else (doc, False)
    try:
        table = parse_route_table(text, "ROUTES_FILE", json_text=is_json)
        for backend, spec in table.specs.items():
            backend_settings(Settings(_env_file=None), backend, spec, "ROUTES_FILE")
        result = "parsed"
    except SettingsError as error:
        line = str(error)
        result = f"SettingsError: {line[:150]}" + (" [MULTI-LINE]" if "\n" in line else "")
        flags += "\n" in line or len(line) > 400
    except RecursionError:
        result, flags = "FLAG RecursionError", flags + 1
    except Exception as error:  # noqa: BLE001
        result, flags = f"FLAG {type(error).__name__}: {str(error)[:120]}", flags + 1
    print(f"{name:32} {result}")
print(f"{flags} flagged of {len(DOCS)}")

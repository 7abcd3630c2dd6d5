"""The Teams app package: manifest valid against Microsoft's schema, commands from the Router, icons, zip layout."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from entrypoints.wiring import build_worker
from infra.teams_package import MANIFEST_VERSION, PackageError, build, manifest
from services.settings import REPO_ROOT
from services.usage import usage_service_from_settings

APP_ID = "6f1c0e2a-1111-4000-8000-000000000abc"
MANIFEST_PACKAGE = "@microsoft/app-manifest@1.1.2"  # ships Microsoft's manifest JSON schemas
QBUSINESS = {
    "qbusiness_application_id": "a1b2c3d4-0000-4000-8000-00000000abcd", "qbusiness_region": "us-east-1",
    "qbusiness_idc_application_arn": "arn:aws:sso::111122223333:application/ssoins-1/apl-1",
    "qbusiness_role_arn": "arn:aws:iam::111122223333:role/q", "qbusiness_oauth_connection": "entra",
    "credentials_kms_key_id": "alias/gateway-credentials",
}  # fmt: skip
BACKENDS = {"local": {}, "bedrock": {"bedrock_model_id": "anthropic.claude"}, "qbusiness": QBUSINESS}
DETAILS = {"developer": "Contoso", "website": "https://contoso.example", "valid_domains": ["bot.contoso.example"]}


@pytest.fixture(scope="session")
def teams_schema() -> dict:
    """Return Microsoft's published schema for MANIFEST_VERSION, installed with npm into a cache directory."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the manifest schema comes from the npm package @microsoft/app-manifest")
    cache = Path.home() / ".cache" / "teams-ai-gateway" / MANIFEST_PACKAGE.replace("/", "+")
    schema = cache / "node_modules/@microsoft/app-manifest/build/json-schemas/teams"
    schema = schema / f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
    if not schema.exists():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(cache), MANIFEST_PACKAGE],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"npm could not install {MANIFEST_PACKAGE}: {done.stderr[-500:]}"
    return json.loads(schema.read_text(encoding="utf-8-sig"))


def package(make_settings, tmp_path, **overrides) -> zipfile.ZipFile:
    settings = make_settings(microsoft_app_id=APP_ID, microsoft_app_password="secret", **overrides)
    return zipfile.ZipFile(build(settings, tmp_path / "appPackage.zip", **DETAILS))


def test_manifest_validates_against_microsofts_schema(make_settings, tmp_path, teams_schema):
    for backend, extra in BACKENDS.items():
        data = json.loads(package(make_settings, tmp_path, backend=backend, **extra).read("manifest.json"))
        validator = jsonschema.Draft4Validator(teams_schema, format_checker=jsonschema.FormatChecker())
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == []
        assert data["manifestVersion"] == MANIFEST_VERSION and data["$schema"].endswith(
            f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
        )


async def test_manifest_names_the_bot_and_lists_the_workers_own_commands(make_settings, tmp_path):
    data = json.loads(package(make_settings, tmp_path).read("manifest.json"))
    (bot,) = data["bots"]
    assert bot["botId"] == APP_ID and set(bot["scopes"]) == {"personal", "team", "groupChat"} and bot["supportsFiles"]
    assert data["webApplicationInfo"] == {"id": APP_ID, "resource": f"api://botid-{APP_ID}"}
    assert {"token.botframework.com", "bot.contoso.example"} <= set(data["validDomains"])

    class Stub:
        name, max_input_chars, status_text = "local", 1, ""

    settings = make_settings()
    worker = build_worker(settings, backend=Stub(), usage=usage_service_from_settings(settings))
    (commands,) = bot["commandLists"]
    everyone = [name for name, command in worker.router.commands.items() if command.shown_to is None]
    assert [c["title"] for c in commands["commands"]] == everyone
    assert "usage" in worker.router.commands and "usage" not in everyone  # the admins' command is in no menu
    assert not any("`" in c["description"] for c in commands["commands"])
    await worker.close()

    on_aws = package(make_settings, tmp_path, store="dynamodb", dynamodb_table="t")  # no USAGE_TABLE: no usage
    titles = [c["title"] for c in json.loads(on_aws.read("manifest.json"))["bots"][0]["commandLists"][0]["commands"]]
    assert "usage" not in titles and "help" in titles


def test_descriptions_say_what_the_configured_backend_does(make_settings, tmp_path):
    local = json.loads(package(make_settings, tmp_path).read("manifest.json"))["description"]["full"]
    assert "knowledge folder" in local and "Bedrock" not in local and "Q Business" not in local
    bedrock = package(make_settings, tmp_path, backend="bedrock", bedrock_model_id="anthropic.claude")
    full = json.loads(bedrock.read("manifest.json"))["description"]["full"]
    assert "Amazon Bedrock" in full and "Q Business" not in full
    qbusiness = json.loads(package(make_settings, tmp_path, backend="qbusiness", **QBUSINESS).read("manifest.json"))
    assert "Amazon Q Business" in qbusiness["description"]["full"] and "signs in" in qbusiness["description"]["full"]
    titles = [c["title"] for c in qbusiness["bots"][0]["commandLists"][0]["commands"]]
    assert "signout" in titles  # the Q Business worker's Router has it


def test_the_analytics_sources_named_are_the_ones_the_settings_allow(make_settings, tmp_path):
    def full(**overrides) -> str:
        return json.loads(package(make_settings, tmp_path, **overrides).read("manifest.json"))["description"]["full"]

    default = full()  # S3_ALLOWED_BUCKETS is empty by default: no bucket may be named
    assert "files attached in a personal chat." in default and "S3" not in default and "data folder" not in default
    with_s3 = full(s3_allowed_buckets="team-data")
    assert "named in S3." in with_s3 and "team-data" not in with_s3
    both = full(s3_allowed_buckets="team-data", data_dir=str(tmp_path))
    assert "named in S3 or the gateway's data folder." in both


def test_icons_and_zip_layout(make_settings, tmp_path):
    archive = package(make_settings, tmp_path)
    assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]  # at the root, no folder
    color = Image.open(io.BytesIO(archive.read("color.png")))
    outline = Image.open(io.BytesIO(archive.read("outline.png")))
    assert color.size == (192, 192) and outline.size == (32, 32) and outline.mode == "RGBA"
    pixels = set(outline.get_flattened_data())
    assert pixels <= {(255, 255, 255, 255), (0, 0, 0, 0)} and len(pixels) == 2  # white on transparent only


def test_without_an_app_id_it_says_what_to_set(make_settings):
    with pytest.raises(PackageError, match="MICROSOFT_APP_ID"):
        manifest(make_settings(), **DETAILS)
    with pytest.raises(PackageError, match="a GUID"):
        manifest(make_settings(microsoft_app_id="my-bot", microsoft_app_password="secret"), **DETAILS)
    run = subprocess.run(
        [sys.executable, "-m", "infra.teams_package", "--out", "/nonexistent/never.zip"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 2 and run.stderr.strip().startswith("cannot build the Teams app package: Set MICRO")
    assert "Traceback" not in run.stderr


APP_ONLY = {"PATH": "/usr/bin:/bin", "MICROSOFT_APP_ID": APP_ID}


def run_package(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infra.teams_package", "--out", str(tmp_path / "app.zip"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=APP_ONLY | {"PYTHONPATH": str(REPO_ROOT)} | env,
    )  # fmt: skip


@pytest.mark.parametrize("backend", ["bedrock", "qbusiness"])
def test_deploy_step_4_needs_only_the_app_id(tmp_path, backend):
    # docs/deploy.md step 4 as written: no model id, no Identity Center set-up, no password.
    run = run_package(tmp_path, "--developer", "Contoso", "--website", "https://contoso.example", BACKEND=backend)
    assert run.returncode == 0, run.stderr
    data = json.loads(zipfile.ZipFile(tmp_path / "app.zip").read("manifest.json"))
    assert data["id"] == APP_ID and run.stderr == ""
    assert ("Amazon Bedrock" if backend == "bedrock" else "Amazon Q Business") in data["description"]["full"]
    assert f"describing the {backend} backend" in run.stdout


def test_with_only_the_app_id_it_says_which_backend_it_describes(tmp_path):
    # The stack's Backend defaults to bedrock, BACKEND to local: the operator is told which one the text is about.
    run = run_package(tmp_path, "--developer", "Contoso", "--website", "https://contoso.example")
    assert run.returncode == 0, run.stderr
    assert "describing the local backend: set BACKEND to the stack's Backend" in run.stdout


def test_version_names_and_urls_come_from_options_and_placeholders_are_warned(tmp_path, teams_schema):
    run = run_package(tmp_path)
    assert run.returncode == 0 and "warning: --developer is the placeholder" in run.stderr
    assert "warning: --website is the placeholder" in run.stderr
    first = json.loads(zipfile.ZipFile(tmp_path / "app.zip").read("manifest.json"))
    assert first["version"] == tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    run = run_package(tmp_path, "--version", "1.4.2", "--developer", "Contoso IT", "--website", "https://it.contoso.example",
                      "--privacy-url", "https://contoso.example/privacy", "--terms-url", "https://contoso.example/terms",
                      "--name-short", "Ask Contoso")  # fmt: skip
    assert run.returncode == 0 and "warning" not in run.stderr
    data = json.loads(zipfile.ZipFile(tmp_path / "app.zip").read("manifest.json"))
    assert data["version"] == "1.4.2" and data["name"]["short"] == "Ask Contoso"
    assert data["developer"] == {"name": "Contoso IT", "websiteUrl": "https://it.contoso.example",
                                 "privacyUrl": "https://contoso.example/privacy",
                                 "termsOfUseUrl": "https://contoso.example/terms"}  # fmt: skip
    assert list(jsonschema.Draft4Validator(teams_schema).iter_errors(data)) == []
    for bad in (["--version", "1.4"], ["--website", "http://contoso.example"]):
        run = run_package(tmp_path, *bad)
        assert run.returncode == 2 and "cannot build the Teams app package: --" in run.stderr
        assert "Traceback" not in run.stderr


def requirement_modules() -> set[str]:
    """Return the top-level modules of the distributions requirements.txt names, with their dependencies."""
    import importlib.metadata as metadata
    import re

    from packaging.requirements import Requirement

    names = [re.split(r"[=<>\[ ;]", line)[0] for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith(("#", "-"))]  # fmt: skip
    seen, modules = set(), set()
    while names:
        name = names.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            top = file.parts[0]
            if top.endswith(".py"):
                modules.add(top[:-3])
            elif not top.endswith((".dist-info", ".data")) and top != "..":
                modules.add(top.split(".")[0])
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                names.append(requirement.name)
    return modules


def test_the_package_builds_with_only_requirements_txt(tmp_path):
    """An import hook in a fresh interpreter refuses every module that is neither the standard library, this
    project, nor a distribution requirements.txt installs (with its dependencies): Pillow, pytest or pandas
    would fail the build here as they would on a machine with only requirements.txt."""
    allowed = requirement_modules() | {"bot", "handlers", "services", "infra", "entrypoints"}
    assert "PIL" not in allowed and "pandas" not in allowed and "pydantic" in allowed
    script = f"""
import sys
allowed = {sorted(allowed)!r}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in allowed or top.startswith("_"):
            return None
        raise ImportError(f"{{name}} is not installed by requirements.txt")
sys.meta_path.insert(0, Refuse())
from infra.teams_package import main
sys.exit(main(["--out", {str(tmp_path / "app.zip")!r}, "--developer", "Contoso", "--website", "https://c.example"]))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env=APP_ONLY | {"BACKEND": "qbusiness"})  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]

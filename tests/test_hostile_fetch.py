"""Attachment and data-source fetches reach only the allowed file hosts, bounded in size and time."""

from __future__ import annotations

import asyncio
import gzip
import time

import pytest
from aiohttp import web

from bot.emulator.loopback import LoopbackServer
from services import safe_fetch
from services.datasets import DatasetError, download
from services.safe_fetch import AllowList, FetchRefused, FetchTooLarge, fetch_url
from services.settings import SettingsError, load_settings

LOOPBACK = ["http://127.0.0.1"]


class FileHost(LoopbackServer):
    """Serves hostile responses on loopback and counts the requests it received."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.redirect_to = ""

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{what}", self._serve)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        what = request.match_info["what"]
        self.hits.append(what)
        if what == "ok":
            return web.Response(body=b"a,b\n1,2\n")
        if what == "redirect":
            raise web.HTTPFound(self.redirect_to)
        if what == "loop":
            raise web.HTTPFound("/loop")
        if what == "bomb":  # 64 MB of zeros in about 64 KB of gzip
            return web.Response(body=gzip.compress(b"\0" * 64_000_000), headers={"Content-Encoding": "gzip"})
        if what == "gzip":
            return web.Response(body=gzip.compress(b"x,y\n1,2\n"), headers={"Content-Encoding": "gzip"})
        if what == "endless":  # no Content-Length: the size is only known while streaming
            response = web.StreamResponse()
            await response.prepare(request)
            for _ in range(100):
                await response.write(b"x" * 65536)
            return response
        if what == "slow":
            await asyncio.sleep(30)
        return web.Response(status=404)


@pytest.fixture
async def host():
    async with FileHost() as server:
        yield server


async def test_a_loopback_host_listed_as_http_is_fetched(host):
    assert await fetch_url(f"{host.url}/ok", allowed_hosts=LOOPBACK, max_bytes=100, timeout=5) == b"a,b\n1,2\n"
    assert await fetch_url(f"{host.url}/gzip", allowed_hosts=LOOPBACK, max_bytes=100, timeout=5) == b"x,y\n1,2\n"


@pytest.mark.parametrize(
    "url",
    [
        "http://files.sharepoint.com/a.csv",  # plain HTTP to a real host
        "https://evil.example.com/a.csv",  # not on the list
        "https://sharepoint.com.evil.example/a.csv",  # the allowed name as a prefix
        "https://evilsharepoint.com/a.csv",  # the allowed name as a suffix without the dot
        "https://169.254.169.254/latest/meta-data/",  # an address instead of a name
        "https://[::1]/a.csv",
        "https://user:pw@files.sharepoint.com/a.csv",
        "file:///etc/passwd",
        "ftp://files.sharepoint.com/a.csv",
        "https://files.sharepoint.com:notaport/a.csv",
        "http://localhost/a.csv",  # loopback, but not the loopback name listed
        "",
    ],
)
async def test_urls_off_the_list_are_refused_before_any_connection(url):
    with pytest.raises(FetchRefused):
        await fetch_url(url, allowed_hosts=["*.sharepoint.com", *LOOPBACK], max_bytes=100, timeout=5)


async def test_an_allowed_name_resolving_to_a_private_address_is_refused(host, monkeypatch):
    class Rebinding:  # what a hostile DNS answer looks like: an allowed name pointing inside the network
        async def resolve(self, name, port=0, family=0):
            return [{"hostname": name, "host": "127.0.0.1", "port": port, "family": 2, "proto": 0, "flags": 0}]

        async def close(self):
            pass

    monkeypatch.setattr(safe_fetch.aiohttp, "ThreadedResolver", Rebinding)
    with pytest.raises(FetchRefused, match="non-public"):
        await fetch_url(
            f"https://files.sharepoint.com:{host.port}/ok", allowed_hosts=["*.sharepoint.com"], max_bytes=100, timeout=5
        )
    assert host.hits == []


@pytest.mark.parametrize(
    "target",
    ["http://localhost:{port}/ok", "https://evil.example.com/x", "http://169.254.169.254/latest/meta-data/"],
)
async def test_redirects_off_the_list_are_refused_at_the_hop(host, target):
    host.redirect_to = target.format(port=host.port)
    with pytest.raises(FetchRefused):
        await fetch_url(f"{host.url}/redirect", allowed_hosts=LOOPBACK, max_bytes=100, timeout=5)
    assert host.hits == ["redirect"]  # the hop off the list was never requested


async def test_redirects_on_the_list_are_followed_a_bounded_number_of_times(host):
    host.redirect_to = "/ok"
    assert await fetch_url(f"{host.url}/redirect", allowed_hosts=LOOPBACK, max_bytes=100, timeout=5)
    host.hits.clear()
    with pytest.raises(FetchRefused, match="redirects"):
        await fetch_url(f"{host.url}/loop", allowed_hosts=LOOPBACK, max_bytes=100, timeout=5)
    assert len(host.hits) == safe_fetch.MAX_REDIRECTS + 1


@pytest.mark.parametrize("what", ["bomb", "endless"])
async def test_size_is_enforced_while_streaming_and_after_decompression(host, what):
    started = time.monotonic()
    with pytest.raises(FetchTooLarge):
        await fetch_url(f"{host.url}/{what}", allowed_hosts=LOOPBACK, max_bytes=1_000_000, timeout=10)
    assert time.monotonic() - started < 5


async def test_download_errors_are_one_sentence_and_bounded_in_time(host):
    started = time.monotonic()
    with pytest.raises(DatasetError, match="attach it again in a moment"):
        await download(f"{host.url}/slow", "p.csv", 100, allowed_hosts=LOOPBACK, timeout=0.5)
    assert time.monotonic() - started < 3
    with pytest.raises(DatasetError, match="not on a file host this gateway accepts"):
        await download("http://10.0.0.1/x.csv", "x.csv", 100, allowed_hosts=["*.sharepoint.com"])
    with pytest.raises(DatasetError, match="larger than the 1 MB limit"):
        await download(f"{host.url}/bomb", "b.csv", 1_000_000, allowed_hosts=LOOPBACK)
    with pytest.raises(DatasetError, match="expired"):
        await download(f"{host.url}/missing", "m.csv", 100, allowed_hosts=LOOPBACK)


def test_the_allow_list_setting():
    settings = load_settings(_env_file=None)
    assert "*.sharepoint.com" in settings.download_allowed_hosts
    assert not any(h.startswith("http://") for h in settings.download_allowed_hosts)  # no loopback by default
    assert settings.s3_allowed_buckets == []
    listed = load_settings(_env_file=None, download_allowed_hosts=" files.example.com, *.Example.org ")
    assert listed.download_allowed_hosts == ["files.example.com", "*.example.org"]
    for bad in ("http://10.0.0.1", "*", "https://files.example.com/x", "*.com*", "files.*.com"):
        with pytest.raises(SettingsError, match="DOWNLOAD_ALLOWED_HOSTS"):
            load_settings(_env_file=None, download_allowed_hosts=bad)
    allow = AllowList.of(["*.sharepoint.com"])
    allow.check("https://contoso-my.sharepoint.com/personal/a.csv")
    with pytest.raises(FetchRefused):
        allow.check("https://sharepoint.com/a.csv")  # a wildcard covers subdomains only


async def test_an_attachment_pointing_inside_the_network_gets_one_sentence(start_bot, host):
    bot = await start_bot()
    channel = bot.channel()
    for url in ("http://169.254.169.254/latest/meta-data/iam", f"http://localhost:{host.port}/ok"):
        activity = channel.with_file(channel.message("metrics"), "p.csv", url)
        await bot.post(activity)
    await bot.settle()
    texts = [c.body["text"] for c in bot.connector.messages()]
    assert len(texts) == 2 and all("not on a file host this gateway accepts" in t for t in texts)
    assert host.hits == []

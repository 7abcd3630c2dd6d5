"""Fourth pass: serviceUrls against the default BOT_SERVICE_HOSTS, as the worker checks them (AllowList.check)
and as yarl (what aiohttp connects to) reads them. Flags a URL the check lets through whose host, as yarl reads
it, is not a default host. Run: .venv/bin/python attack/service_hosts4.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from yarl import URL  # noqa: E402

from services.safe_fetch import AllowList, FetchRefused  # noqa: E402
from services.settings import BOT_SERVICE_HOSTS  # noqa: E402

hosts = AllowList.of(BOT_SERVICE_HOSTS)
URLS = [
    "https://smba.trafficmanager.net/amer/",
    "https://smba.trafficmanager.net.evil.example/",
    "https://smba.trafficmanager.net@evil.example/",
    "https://evil.example\\@smba.trafficmanager.net/",
    "https://evil.example#@smba.trafficmanager.net/",
    "https://evil.example?@smba.trafficmanager.net/",
    "https://smba.trafficmanager.net:444/",
    "https://SMBA.TrafficManager.net./amer/",
    "https://x.botframework.com%2eevil.example/",
    "https://evil.example%2f.botframework.com/",
    "https://botframework.com/",
    "https://.botframework.com/",
    "https://a..botframework.com/",
    "http://smba.trafficmanager.net/",
    "https://smba.trafficmanager.net\t.evil.example/",
    "https://smba.trafficmanager.net\n/",
    "https://smba。trafficmanager。net/",
    "https://xn--smba-.botframework.com/",
    "https://user:pw@smba.trafficmanager.net/",
    "https://[::1]/",
    "https://127.0.0.1.botframework.com/",
    "https://evil.example/.botframework.com",
    "//smba.trafficmanager.net/",
    "https:smba.trafficmanager.net/",
    "https://smba.trafficmanager.net%00.evil.example/",
    "HTTPS://smba.trafficmanager.net/",
]
flags = 0
for url in URLS:
    try:
        hosts.check(url)
        allowed = True
    except FetchRefused:
        allowed = False
    except Exception as error:  # noqa: BLE001
        allowed = f"raised {type(error).__name__}"
    try:
        real = URL(url).host
    except Exception as error:  # noqa: BLE001
        real = f"yarl: {type(error).__name__}"
    ok_host = isinstance(real, str) and (
        real.rstrip(".").lower() == "smba.trafficmanager.net" or real.rstrip(".").lower().endswith(".botframework.com")
    )
    bad = allowed is True and not ok_host or isinstance(allowed, str)
    flags += bad
    print(f"{'FLAG' if bad else 'ok  '} allowed={allowed!s:5} yarl host={real!r:40} {url!r}")
print(f"{flags} flagged of {len(URLS)}")

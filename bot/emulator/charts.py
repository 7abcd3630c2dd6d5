"""Charts in the terminal emulator: a card's PNG images saved to files, printed as paths and opened where a
viewer exists (xdg-open on a desktop, `open` on macOS), since a terminal cannot show them."""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bot.emulator.render import CARD

PNG_PREFIX = "data:image/png;base64,"
MAX_IMAGE_BYTES = 5_000_000


def card_images(activity: dict[str, Any]) -> list[bytes]:
    """Return the PNG images (data URLs) in the Adaptive Cards of `activity`, in reading order."""
    found: list[bytes] = []

    def walk(element: Any) -> None:
        if isinstance(element, dict):
            url = element.get("url")
            if element.get("type") == "Image" and isinstance(url, str) and url.startswith(PNG_PREFIX):
                encoded = url[len(PNG_PREFIX) :]
                if len(encoded) <= MAX_IMAGE_BYTES * 4 // 3 + 4:
                    try:
                        found.append(base64.b64decode(encoded, validate=True))
                    except (binascii.Error, ValueError):
                        pass
            for value in element.values():
                walk(value)
        elif isinstance(element, list):
            for value in element:
                walk(value)

    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") == CARD:
            walk(attachment.get("content"))
    return found


def viewer() -> list[str] | None:
    """Return the command that opens a file in the desktop's viewer, or None (no display, no opener)."""
    if sys.platform == "darwin" and shutil.which("open"):
        return ["open"]
    if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and shutil.which("xdg-open"):
        return ["xdg-open"]
    return None


class ChartSaver:
    """Saves each chart the bot sends to `folder` (a new temporary folder by default) and opens it when
    `open_charts` and a viewer exists."""

    def __init__(self, folder: Path | None = None, *, open_charts: bool = True) -> None:
        self.folder = folder
        self.open_charts = open_charts
        self.count = 0

    def save(self, activity: dict[str, Any]) -> list[Path]:
        """Save the charts of `activity`; return their paths."""
        paths = []
        for png in card_images(activity):
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix="teams-emulator-charts-"))
            self.count += 1
            path = self.folder / f"chart-{self.count}.png"
            path.write_bytes(png)
            paths.append(path)
            command = viewer() if self.open_charts else None
            if command:
                subprocess.Popen([*command, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return paths

"""The files of a turn, downloaded for a backend that reads attachments (Capabilities.attachments)."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.models import Turn
from services.backends import Attachment, AttachmentRules
from services.datasets import DatasetError, download
from services.quoting import quote

MAX_SKIP_SENTENCES = 5  # sentences about skipped files per reply; the rest are counted in one more


async def attachments_of(
    turn: Turn, rules: AttachmentRules, label: str, *, allowed_hosts: Sequence[str]
) -> tuple[list[Attachment], list[str]]:
    """Return (the turn's files downloaded for the backend, one sentence per file skipped and why).

    At most `rules.max_files` files are sent (skipped files do not count), of `rules.types`, `rules.max_bytes`
    each, downloaded only from `allowed_hosts` (DOWNLOAD_ALLOWED_HOSTS, checked by services/safe_fetch.py: the
    download URL comes from the request, so any other host is refused). `label` names the backend's service in
    the sentences. At most twice `rules.max_files` downloads are tried (refused and failed ones too: a message
    naming thousands of links must not make thousands of fetches), and at most MAX_SKIP_SENTENCES sentences
    say what was skipped, then one counts the rest (Teams refuses a message over about 100 KB)."""
    files: list[Attachment] = []
    skipped: list[str] = []
    tried = 0
    for file in turn.files:
        name = quote(file.name)  # user data: inert in the sentences below
        kind = (file.file_type or (file.name.rsplit(".", 1)[-1] if "." in file.name else "")).lower()
        if kind not in rules.types:
            skipped.append(f"I skipped {name}: {label} does not read .{quote(kind, 10) or '?'} files.")
        elif len(files) >= rules.max_files or tried >= 2 * rules.max_files:
            skipped.append(f"I skipped {name}: at most {rules.max_files} files are read per message.")
        else:
            tried += 1
            try:
                data = await download(file.download_url, file.name, rules.max_bytes, allowed_hosts=allowed_hosts)
            except DatasetError as problem:
                skipped.append(str(problem))
            else:
                files.append(Attachment(name=file.name, data=data))
    if len(skipped) > MAX_SKIP_SENTENCES:
        rest = len(skipped) - MAX_SKIP_SENTENCES
        skipped = [*skipped[:MAX_SKIP_SENTENCES], f"I also skipped {rest:,} more files."]
    return files, skipped

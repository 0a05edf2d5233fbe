"""The console chat: talk to the bot from a terminal (`python -m bot chat`).

Buttons are shown as numbered options; type the number to choose.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TextIO

from bot.core.pipeline import TurnFailed
from bot.inbound.worker import InboundWorker
from bot.messages import IncomingMessage, render_numbered

CHANNEL = "console"


async def run_console(
    worker: InboundWorker,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    sender: str = "local",
    lang: str | None = None,
) -> None:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    session = uuid.uuid4().hex[:8]
    loop = asyncio.get_running_loop()
    stdout.write("Làng Số — gõ tin nhắn rồi nhấn Enter; gõ số để chọn; Ctrl+D để thoát.\n")
    stdout.flush()
    n = 0
    while True:
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        n += 1
        msg = IncomingMessage(
            channel=CHANNEL,
            sender_id=sender,
            message_id=f"{session}-{n}",
            text=text,
            locale_hint=lang,
        )
        try:
            turn = await worker.converse(msg)
        except TurnFailed:
            stdout.write("bot> Xin lỗi, có lỗi khi xử lý. Bạn gửi lại nhé.\n")
            stdout.flush()
            continue
        for reply in turn.replies:
            out = render_numbered(reply)
            for kind in ("photo", "voice", "document"):
                if getattr(reply, kind):
                    out += f"\n[{kind}: {_local(worker, getattr(reply, kind))}]"
            stdout.write("bot> " + out.replace("\n", "\n     ") + "\n")
        stdout.flush()


def _local(worker: InboundWorker, ref: str) -> str:
    """A /dulieu export is shown as the file it is on this machine (bot.privacy.export)."""
    from bot.privacy import export, exports_dir

    if export.is_ref(ref):
        path = export.local_file(ref, exports_dir(worker.services.settings))
        return str(path) if path is not None else ref
    return ref

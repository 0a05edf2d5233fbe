"""Real bot processes for tests: `python -m bot run --no-console`, as an operator starts it.

`BotProcess` starts one on a free port with the given environment, waits for `/healthz`, and can
be stopped with SIGTERM or killed with SIGKILL (no clean-up runs: what a crash leaves is left).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotProcess:
    """One bot process on 127.0.0.1:`port`, its output in `log` (a file, for when it fails)."""

    def __init__(
        self, env: dict[str, str], log: Path, port: int | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.port = port or free_port()
        self.args = args  # more `run` options, e.g. ("--role", "dispatcher")
        self.env = {
            **os.environ,
            "BOT_HOST": "127.0.0.1",
            "BOT_PORT": str(self.port),
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 30.0) -> BotProcess:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--no-console",
            *self.args,
            cwd=ROOT,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
        out.close()
        async with aiohttp.ClientSession() as http:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(
                        f"the bot exited with {self.proc.returncode}:\n{self.tail()}"
                    )
                try:
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                if loop.time() > deadline:
                    raise TimeoutError(f"the bot did not get healthy:\n{self.tail()}")
                await asyncio.sleep(0.1)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def kill(self) -> None:
        """SIGKILL: the process ends at once, whatever it was doing."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, as `docker stop` sends: the bot finishes what it is doing and exits."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                await self.kill()
        return self.proc.returncode

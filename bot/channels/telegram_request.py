"""python-telegram-bot's networking backend on aiohttp, for the sends.

PTB lets an application bring its own HTTP backend (`telegram.request.BaseRequest`: one
`do_request` returning the status and body; PTB keeps everything else: parameters, files,
errors, retry_after). Its default, HTTPXRequest, spends most of a sendMessage's CPU inside httpx
(measured on loopback: about 0.9 ms CPU per send through PTB against 0.23 ms for a bare aiohttp
POST; the turn itself is about 3 ms), and a bot sends one or two messages per message it gets.
aiohttp is already the bot's web server, so this backend adds no dependency.

Timeouts mean what they mean for HTTPXRequest: `connect` (with the wait for a pooled connection,
`pool`), `read` (between bytes of the answer), `write` (the whole request; `media_write` when it
uploads a file). A timeout is `telegram.error.TimedOut`, any other transport failure
`NetworkError` naming only the exception's type (its text may hold the URL, and the URL holds
the bot token).
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` over one aiohttp session (its connection pool reused by every call)."""

    __slots__ = (
        "_session",
        "connection_pool_size",
        "connect_timeout",
        "_read_timeout",
        "write_timeout",
        "media_write_timeout",
        "pool_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 64,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        media_write_timeout: float | None = 20.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.connection_pool_size = connection_pool_size
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.media_write_timeout = media_write_timeout
        self.pool_timeout = pool_timeout

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds the long-poll time to it for getUpdates)."""
        return self._read_timeout

    @read_timeout.setter
    def read_timeout(self, value: float | None) -> None:
        self._read_timeout = value

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.connection_pool_size)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None | DefaultValue = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None | DefaultValue = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None | DefaultValue = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None | DefaultValue = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        read = self.read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self.connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self.pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self.media_write_timeout if files else self.write_timeout
        # aiohttp has no write timeout of its own: the whole call is bounded by all of them.
        total = None
        if None not in (read, connect, pool, write_timeout):
            total = read + connect + pool + write_timeout  # type: ignore[operator]
        timeout = aiohttp.ClientTimeout(
            total=total,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in request_data.multipart_data.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                data = form
            else:
                data = request_data.json_parameters
        try:
            async with session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as err:
            raise TimedOut() from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}") from err

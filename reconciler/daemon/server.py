"""The daemon's HTTP/1.1 server: one asyncio loop in one thread, h11 for the protocol.

What a client can hold is bounded, whatever it sends or fails to send:

- **A whole-request deadline.** The request line, the headers and the body must all have
  arrived `request_deadline` seconds after the connection opened (or after its previous
  answer, for a kept-alive connection). It is one deadline for the whole request, not a
  timeout per read: a client trickling a header line every second is closed like a silent
  one. A partial request gets 408; a connection that sent nothing is just closed.
- **A bound on the head and the body**: h11 buffers at most `head_limit` bytes of request
  line and headers; beyond, 431. A body a route needs is read up to its bound (413 beyond,
  the rest unread); one it does not need is drained only when its declared length is small.
- **A connection cap, and who makes room.** An idle connection costs a few KiB and no
  thread, so the cap is large. At the cap, the oldest connection that is waiting on its
  client (for the rest of its request, for it to read its answer, or to close) is closed to
  make room: a probe's head arrives in its first packet and its answer is read at once, a
  slowloris never finishes its own.
- **A budget for everything but the probes.** The one state in which a connection waits on
  its client and cannot be closed to make room is a request being answered that is not a
  probe (a webhook draining its body). At most `other_slots` connections are in it; one more
  is answered 503 at once. Probes (the application says which) never wait on anything but
  their client, so webhook and unknown traffic can neither take their place nor fill the
  cap with connections that cannot make room.

Responses are written within `write_timeout`. Nothing a client does prints a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from http import HTTPStatus
from typing import NamedTuple, Protocol

import h11

from reconciler.core.reasons import ReasonCode

READ_SIZE = 8192
READ_LIMIT = 16 * 1024
"""asyncio stops reading a connection whose unread buffer passes twice this."""
RECEIVE_BUFFER = 32 * 1024
"""The kernel's receive buffer per connection: with READ_LIMIT, what one client can make us
hold in memory before it is read (at most about 128 KiB, however fast it sends)."""


class Limits(NamedTuple):
    """The server's bounds (seconds, bytes, counts)."""

    request_deadline: float = 5.0
    """Request line, headers and body together, from the connection or the previous answer."""
    write_timeout: float = 5.0
    """Writing one answer (a client that does not read it is closed)."""
    head_limit: int = 16 * 1024
    """Request line plus headers; 431 beyond."""
    drain_limit: int = 64 * 1024
    """A body is drained (unread) when its declared length is at most this; larger: closed."""
    connections: int = 256
    """Open connections; at the cap the oldest one waiting on its client is closed."""
    other_slots: int = 16
    """Requests other than probes being answered at once (webhooks, unknown paths)."""
    linger: float = 1.0
    """After an answer that closes, what the client still sends is read and dropped this long."""


class Head(NamedTuple):
    """A request's line and headers (header names lower-case, values latin-1)."""

    method: str
    path: str
    headers: dict[str, str]
    peer: str


class Answer(NamedTuple):
    """One response; `close` ends the connection after it."""

    code: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    close: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers (the status page's Content-Security-Policy, ...)."""


class Application(Protocol):
    """What the server asks the routes."""

    def is_probe(self, head: Head) -> bool:
        """Whether it is a probe: answered at once, outside the budget (unless it has a body)."""

    def check(self, head: Head) -> Answer | None:
        """An answer from the head alone (a refusal), or None to read the body and answer."""

    def body_limit(self, head: Head) -> int | None:
        """The most body bytes the answer needs (413 beyond); None: drop it unread."""

    def answer(self, head: Head, body: bytes) -> Answer:
        """The answer to a complete request (`body` empty unless `body_limit` asked for it)."""

    def refuse(self, code: int | None, reason: str, head: Head | None, peer: str) -> Answer:
        """Record a refusal by the server itself (code None: closed without an answer)."""

    def fault(self, error: str) -> None:
        """Record an unexpected error (a bug, or the system out of resources)."""


class _Connection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head_limit: int
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.task = asyncio.current_task()
        self.protocol = h11.Connection(h11.SERVER, max_incomplete_event_size=head_limit)
        self.served = 0
        self.started = False  # some byte of the current request arrived
        self.closing = False  # an answer that ends the connection was sent
        address = writer.get_extra_info("peername")
        self.peer = str(address[0]) if isinstance(address, tuple) else ""


def _has_body(head: Head) -> bool:
    """Whether a body follows the head (then even a probe waits on its client: a budget)."""
    return "transfer-encoding" in head.headers or head.headers.get("content-length", "0") != "0"


class _Refused(Exception):
    def __init__(self, code: int | None, reason: str, head: Head | None = None) -> None:
        self.code, self.reason, self.head = code, reason, head


class Server:
    """A running server; `shutdown()` closes every connection and stops the loop's thread."""

    def __init__(self, host: str, port: int, app: Application, limits: Limits) -> None:
        """Bind the address (raises OSError when it is in use or not ours) and start serving."""
        self.app = app
        self.limits = limits
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self.socket.bind((host, port))
            self.socket.listen(512)
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._connections: dict[_Connection, None] = {}
        self._waiting: dict[_Connection, None] = {}  # waiting on their client, oldest first
        self._busy = 0  # requests other than probes being answered
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._on_loop_error)
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="reconciler-http", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        except BaseException:
            self.server_close()
            raise

    def shutdown(self) -> None:
        """Stop accepting, close every connection, stop the thread (idempotent)."""
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def server_close(self) -> None:
        """Release the listening socket (after `shutdown()`)."""
        self.shutdown()
        self.socket.close()

    # The loop -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, sock=self.socket, limit=READ_LIMIT)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self._connections if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _on_loop_error(self, _loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        # asyncio's default handler prints a traceback; accept() running out of descriptors
        # lands here too (asyncio pauses accepting, then retries).
        error = context.get("exception")
        shown = f"{type(error).__name__}: {error}" if error else str(context.get("message"))
        self.app.fault(shown)

    # One connection ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(reader, writer, self.limits.head_limit)
        if len(self._connections) >= self.limits.connections:
            # The oldest connection waiting on its client; with none (every one busy
            # answering), the oldest of all: a newcomer (a probe) always gets in.
            victim = next(iter(self._waiting), None) or next(iter(self._connections), None)
            self.app.refuse(None, ReasonCode.HTTP_CROWDED, None, (victim or conn).peer)
            if victim is None or victim.task is None:
                writer.transport.abort()
                return
            self._forget(victim)
            victim.task.cancel()
        self._connections[conn] = None
        self._wait_on_client(conn)
        try:
            await self._serve(conn)
            await self._linger(conn)
        except (OSError, asyncio.CancelledError, TimeoutError, h11.ProtocolError):
            pass  # the client went away, stalled reading its answer, or we are stopping
        except Exception as exc:  # noqa: BLE001 - a bug must not print a traceback per request
            self.app.fault(f"{type(exc).__name__}: {exc}")
        finally:
            self._forget(conn)
            writer.transport.abort()

    async def _linger(self, conn: _Connection) -> None:
        """Half-close, then drop what the client still sends, briefly, before closing.

        Closing a socket with unread data in it resets the connection, and a client still
        sending its body may then never see the answer (a 401 before the body, say).
        """
        if not conn.closing or conn.reader.at_eof() or not conn.writer.can_write_eof():
            return
        conn.writer.write_eof()
        self._wait_on_client(conn)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.limits.linger):
                while await conn.reader.read(READ_SIZE):
                    pass

    def _wait_on_client(self, conn: _Connection) -> None:
        """Mark the connection as one that may be closed to make room (the newest of them)."""
        self._waiting.pop(conn, None)
        self._waiting[conn] = None

    def _forget(self, conn: _Connection) -> None:
        self._connections.pop(conn, None)
        self._waiting.pop(conn, None)

    async def _serve(self, conn: _Connection) -> None:
        """Answer requests on one connection until it closes (or must)."""
        while True:
            deadline = self._loop.time() + self.limits.request_deadline
            self._wait_on_client(conn)
            conn.started = bool(conn.protocol.trailing_data[0])
            try:
                head = await self._read_head(conn, deadline)
            except _Refused as refused:
                await self._refuse(conn, refused)
                return
            if head is None:
                return
            if self.app.is_probe(head) and not _has_body(head):
                await self._respond(conn, head, deadline)
            elif self._busy >= self.limits.other_slots:
                await self._refuse(conn, _Refused(503, ReasonCode.HTTP_BUSY, head))
                return
            else:
                self._busy += 1
                try:
                    await self._respond(conn, head, deadline)
                finally:
                    self._busy -= 1
            conn.served += 1
            if conn.protocol.our_state is not h11.DONE or conn.protocol.their_state is not h11.DONE:
                return
            conn.protocol.start_next_cycle()
            await asyncio.sleep(0)  # a client pipelining many requests takes turns with others

    async def _respond(self, conn: _Connection, head: Head, deadline: float) -> None:
        """Answer one request whose head arrived: from the head, or once its body is drained."""
        try:
            answer = self.app.check(head)
            if answer is None:
                limit = self.app.body_limit(head)
                if limit is None:
                    body, drained = b"", await self._drain(conn, head, deadline)
                else:
                    body, drained = await self._read_body(conn, head, deadline, limit), True
                answer = self.app.answer(head, body)
                if not drained:
                    answer = answer._replace(close=True)
        except _Refused as refused:
            await self._refuse(conn, refused)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in a route answers 500, no traceback
            self.app.fault(f"{type(exc).__name__}: {exc}")
            answer = Answer(500, b"internal error\n", close=True)
        await self._send(conn, answer, head)

    async def _refuse(self, conn: _Connection, refused: _Refused) -> None:
        answer = self.app.refuse(refused.code, refused.reason, refused.head, conn.peer)
        if refused.code is not None:
            await self._send(conn, answer._replace(close=True), refused.head)

    async def _read_head(self, conn: _Connection, deadline: float) -> Head | None:
        """The next request's head; None when the client closed (or idled out) between requests."""
        try:
            async with asyncio.timeout_at(deadline):
                event = await self._next_event(conn)
        except TimeoutError:
            if conn.started:
                raise _Refused(408, ReasonCode.HTTP_DEADLINE) from None
            if conn.served:
                return None  # an idle kept-alive connection: closed quietly
            raise _Refused(None, ReasonCode.HTTP_DEADLINE) from None
        except h11.RemoteProtocolError as exc:
            if conn.reader.at_eof():
                return None  # gone mid-request: nobody to answer
            if exc.error_status_hint == 431:
                raise _Refused(431, ReasonCode.HTTP_HEAD_TOO_LARGE) from None
            raise _Refused(400, ReasonCode.HTTP_BAD_REQUEST) from None
        self._waiting.pop(conn, None)
        if not isinstance(event, h11.Request):
            return None  # ConnectionClosed
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        path = event.target.decode("latin-1").split("?", 1)[0]
        return Head(event.method.decode("latin-1"), path, headers, conn.peer)

    async def _drain(self, conn: _Connection, head: Head, deadline: float) -> bool:
        """Read and drop a small body within the deadline; False when it is left unread."""
        length = head.headers.get("content-length", "0")
        small = length.isdigit() and int(length) <= self.limits.drain_limit
        if "transfer-encoding" in head.headers or not small:
            return False
        if conn.protocol.they_are_waiting_for_100_continue:
            return False  # the client waits for leave to send a body we do not need
        try:
            async with asyncio.timeout_at(deadline):
                while not isinstance(await self._next_event(conn), h11.EndOfMessage):
                    pass
        except TimeoutError:
            raise _Refused(408, ReasonCode.HTTP_DEADLINE, head) from None
        except h11.RemoteProtocolError:
            return False
        return True

    async def _read_body(self, conn: _Connection, head: Head, deadline: float, limit: int) -> bytes:
        """The whole body (sized or chunked) within the deadline; 413 past `limit` bytes."""
        # A declared length past the bound is refused before a byte of the body is read, a
        # chunked body as soon as it passes it: the rest is never held in memory.
        length = head.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > limit:  # h11 already refused a malformed one
            raise _Refused(413, ReasonCode.HTTP_BODY_TOO_LARGE, head)
        if conn.protocol.they_are_waiting_for_100_continue:
            go_on = h11.InformationalResponse(status_code=100, headers=[])
            conn.writer.write(conn.protocol.send(go_on) or b"")
        body = bytearray()
        try:
            async with asyncio.timeout_at(deadline):
                while not isinstance(event := await self._next_event(conn), h11.EndOfMessage):
                    if isinstance(event, h11.Data):
                        body += event.data
                    if len(body) > limit:
                        raise _Refused(413, ReasonCode.HTTP_BODY_TOO_LARGE, head)
        except TimeoutError:
            raise _Refused(408, ReasonCode.HTTP_DEADLINE, head) from None
        except h11.RemoteProtocolError:
            raise _Refused(400, ReasonCode.HTTP_BAD_REQUEST, head) from None
        return bytes(body)

    async def _next_event(self, conn: _Connection) -> h11.Event:
        while True:
            event = conn.protocol.next_event()
            if isinstance(event, h11.Event):
                return event
            if event is h11.PAUSED:  # cannot happen: a request is answered before the next
                raise ConnectionError("a pipelined request while the previous one is open")
            data = await conn.reader.read(READ_SIZE)
            conn.started = conn.started or bool(data)
            conn.protocol.receive_data(data)

    async def _send(self, conn: _Connection, answer: Answer, head: Head | None) -> None:
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            *answer.headers,
        ]
        if answer.close:
            headers.append(("Connection", "close"))
            conn.closing = True
        protocol = conn.protocol
        phrase = HTTPStatus(answer.code).phrase.encode("ascii")
        data = protocol.send(h11.Response(status_code=answer.code, headers=headers, reason=phrase))
        if head is None or head.method != "HEAD":
            data = (data or b"") + (protocol.send(h11.Data(data=answer.body)) or b"")
        data = (data or b"") + (protocol.send(h11.EndOfMessage()) or b"")
        conn.writer.write(data)
        self._wait_on_client(conn)  # to read its answer
        async with asyncio.timeout(self.limits.write_timeout):
            await conn.writer.drain()
        self._waiting.pop(conn, None)

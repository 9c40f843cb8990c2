"""The router's own HTTP/1.1 client (router/_upstream/wire.py) against a loopback server.

The server here answers each request it reads with the next of its scripted answers and counts
connections and requests, so each test asserts what went on the wire: how many connections,
how many times a request was sent, what came back.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import orjson
import pytest

from router._core.invariant import Identity, content_strings
from router._errors import FailureKind, IdentifierInRequest, UpstreamFailure
from router._upstream import lean, wire
from router._upstream.adapter import UpstreamCall, complete, open_stream
from router._upstream.guard import WireCheck
from tests._support.wire import targets_by_prefix

MESSAGES: Final = [{"role": "user", "content": "Say hello."}]
TARGET: Final = targets_by_prefix()["openai"]
ANSWER: Final = orjson.dumps({"id": "c1", "object": "chat.completion", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]})  # fmt: skip

Answer = Callable[[asyncio.StreamWriter], Awaitable[bool]]  # writes; True: keep the connection


def sized(body: bytes = ANSWER, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
            % (status.encode(), len(body), extra, body))  # fmt: skip


def chunked(*pieces: bytes, content_type: bytes = b"application/json") -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ntransfer-encoding: chunked\r\n\r\n" % content_type
    )
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def writes(data: bytes, *, keep: bool = True) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        return keep

    return answer


def closes() -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> bool:
        return False

    return answer


class Upstream:
    """A loopback HTTP/1.1 server with scripted answers (``Upstream.answers``, in order)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self, context: ssl.SSLContext | None = None) -> Upstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def url(self, scheme: str = "http") -> str:
        host = "localhost" if scheme == "https" else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}/v1/chat/completions"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))  # fmt: skip
                self.requests.append(head + await reader.readexactly(length))
                if not await self.answers.pop(0)(writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (the other side's bytes or close arrived)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def idle(client: wire.Client) -> int:
    return sum(len(d) for d in client._idle.values())


@pytest.fixture
async def client() -> AsyncIterator[wire.Client]:
    made = wire.Client()
    yield made
    await made.close()


async def post(client: wire.Client, upstream: Upstream, seconds: float = 5.0) -> wire.Response:
    request = wire.Request(upstream.url(), {"Content-Type": "application/json"}, b'{"a":1}')
    return await client.send(request, seconds)


def transports(client: wire.Client) -> list[asyncio.BaseTransport]:
    return [c.transport for c in client._every]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(writes(sized()), id="content-length"),
        pytest.param(writes(chunked(ANSWER[:10], ANSWER[10:])), id="chunked"),
        pytest.param(
            writes(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + ANSWER, keep=False
            ),
            id="close-delimited",
        ),
        pytest.param(
            writes(sized(gzip.compress(ANSWER), extra=b"content-encoding: gzip\r\n")), id="gzip"
        ),
    ],
)
async def test_read__the_whole_body_however_it_is_delimited(
    client: wire.Client, answer: Answer
) -> None:
    upstream = await Upstream(answer).start()
    try:
        response = await post(client, upstream)
        assert (response.status, await response.read()) == (200, ANSWER)
    finally:
        await upstream.stop()
    assert upstream.requests[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\naccept-encoding: gzip\r\n" in upstream.requests[0].lower()
    assert upstream.requests[0].endswith(b'\r\n\r\n{"a":1}')


async def test_read__a_body_larger_than_the_read_ahead(client: wire.Client) -> None:
    """A whole body is read to its end, however large (only pieces pause the reading)."""
    big = b"x" * (4 * 1024 * 1024)
    upstream = await Upstream(writes(sized(big)), writes(chunked(big))).start()
    try:
        assert await (await post(client, upstream)).read() == big
        assert b"".join([p async for p in (await post(client, upstream)).pieces()]) == big
    finally:
        await upstream.stop()
    assert upstream.connections == 1


async def test_keep_alive__one_connection_for_requests_one_after_the_other(
    client: wire.Client,
) -> None:
    upstream = await Upstream(*[writes(sized()) for _ in range(3)],
                              writes(chunked(ANSWER))).start()  # fmt: skip
    try:
        for _ in range(4):
            assert await (await post(client, upstream)).read() == ANSWER
    finally:
        await upstream.stop()
    assert (upstream.connections, len(upstream.requests)) == (1, 4)


async def test_keep_alive__a_connection_the_server_closed_is_not_reused(
    client: wire.Client,
) -> None:
    """The server closes the idle connection: the next request goes on a new one, and the
    first request is not sent again."""
    upstream = await Upstream(writes(sized(), keep=False), writes(sized())).start()
    try:
        assert await (await post(client, upstream)).read() == ANSWER
        await until(lambda: idle(client) == 0)  # the server's close arrived
        assert await (await post(client, upstream)).read() == ANSWER
    finally:
        await upstream.stop()
    assert (upstream.connections, len(upstream.requests)) == (2, 2)


async def test_keep_alive__connection_close_is_honoured(client: wire.Client) -> None:
    upstream = await Upstream(writes(sized(extra=b"connection: close\r\n")),
                              writes(sized())).start()  # fmt: skip
    try:
        for _ in range(2):
            assert await (await post(client, upstream)).read() == ANSWER
    finally:
        await upstream.stop()
    assert upstream.connections == 2


async def test_keep_alive__an_idle_connection_expires(
    client: wire.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "IDLE_SECONDS", 0.01)
    upstream = await Upstream(writes(sized()), writes(sized())).start()
    try:
        assert await (await post(client, upstream)).read() == ANSWER
        (first,) = transports(client)
        await until(first.is_closing)
        assert await (await post(client, upstream)).read() == ANSWER
    finally:
        await upstream.stop()
    assert upstream.connections == 2


async def test_limit__a_request_past_it_waits_for_a_connection(client: wire.Client) -> None:
    client.limit = 1
    upstream = await Upstream(writes(sized()), writes(sized())).start()
    try:
        first = await post(client, upstream)
        second = asyncio.create_task(post(client, upstream))
        await asyncio.sleep(0.05)
        assert not second.done()
        assert await first.read() == ANSWER
        assert await (await second).read() == ANSWER
    finally:
        await upstream.stop()
    assert upstream.connections == 1


@pytest.fixture
async def clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[lean.Clients]:
    """A router's lean clients on the own client, with the provider's (fake) key."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    made = lean.Clients("httptools")
    yield made
    await made.aclose()


async def failure_of(clients: lean.Clients, port: int, **call: Any) -> UpstreamFailure:
    """The failure a JSON call through the lean path raises (the upstream on ``port``)."""
    arguments = {"messages": MESSAGES} | call.pop("arguments", {})
    attempt = UpstreamCall(TARGET, arguments, raw=True, clients=clients,
                           api_base=f"http://127.0.0.1:{port}/v1", **call)  # fmt: skip
    with pytest.raises(UpstreamFailure) as caught:
        await complete(attempt)
    return caught.value


async def test_send__a_server_that_closes_after_the_request_is_a_connection_failure_sent_once(
    clients: lean.Clients,
) -> None:
    upstream = await Upstream(closes()).start()
    try:
        failure = await failure_of(clients, upstream.port)
    finally:
        await upstream.stop()
    assert failure.kind == FailureKind.CONNECTION
    assert len(upstream.requests) == 1


async def test_send__connect_refused_is_a_connection_failure(clients: lean.Clients) -> None:
    upstream = await Upstream().start()
    port = upstream.port
    await upstream.stop()  # nothing listens there now
    failure = await failure_of(clients, port)
    assert failure.kind == FailureKind.CONNECTION


async def test_send__no_answer_within_the_timeout_is_a_timeout(clients: lean.Clients) -> None:
    silent = asyncio.Event()

    async def never(writer: asyncio.StreamWriter) -> bool:
        await silent.wait()
        return False

    upstream = await Upstream(never).start()
    try:
        failure = await failure_of(clients, upstream.port, timeout=0.05)
    finally:
        silent.set()
        await upstream.stop()
    assert failure.kind == FailureKind.TIMEOUT
    assert len(upstream.requests) == 1


async def test_send__an_unasked_content_encoding_is_a_bad_response(clients: lean.Clients) -> None:
    upstream = await Upstream(writes(sized(extra=b"content-encoding: br\r\n"))).start()
    try:
        failure = await failure_of(clients, upstream.port)
    finally:
        await upstream.stop()
    assert failure.kind == FailureKind.BAD_RESPONSE


async def test_status__and_retry_after_reach_the_failure(clients: lean.Clients) -> None:
    body = b'{"error": {"message": "slow down"}}'
    answer = sized(body, "429 Too Many Requests", b"retry-after: 7\r\n")
    upstream = await Upstream(writes(answer)).start()
    try:
        failure = await failure_of(clients, upstream.port)
    finally:
        await upstream.stop()
    assert (failure.kind, failure.status_code) == (FailureKind.RATE_LIMIT, 429)
    assert failure.retry_after == 7.0
    assert "slow down" in str(failure)


async def test_invariant__refuses_the_request_unsent(clients: lean.Clients) -> None:
    user = "sentinel-wire-7731"
    upstream = await Upstream(writes(sized())).start()
    check = WireCheck(Identity.of(user), content_strings(MESSAGES))
    call = UpstreamCall(TARGET, {"messages": MESSAGES, "stop": [user]}, raw=True, check=check,
                        clients=clients, api_base=f"http://127.0.0.1:{upstream.port}/v1")  # fmt: skip
    try:
        with pytest.raises(IdentifierInRequest):
            await complete(call)
    finally:
        await upstream.stop()
    assert (check.sends, check.found, upstream.connections) == (1, "$.stop[0]", 0)


async def test_invariant__checks_the_header_lines_written() -> None:
    """The identity in a header line the client writes (here: the URL's host) is found."""
    user = "sentinel-wire-7731"
    request = wire.Request(f"http://{user}.example:8080/v1/x", {"Content-Type": "a/b"}, b"{}")
    check = WireCheck(Identity.of(user), frozenset())
    call = UpstreamCall(TARGET, {}, check=check)
    with pytest.raises(IdentifierInRequest):
        lean._checked(call, "http://provider.example/v1/x", request.headers, b"{}")
    assert check.found == "header:host"
    assert request.encode().startswith(b"POST /v1/x HTTP/1.1\r\nContent-Type: a/b\r\n"
                                       b"Host: sentinel-wire-7731.example:8080\r\n")  # fmt: skip


FIRST: Final = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    b"5\r\nfirst\r\n"
)  # a stream's head and first piece


async def first_piece(client: wire.Client, upstream: Upstream) -> AsyncIterator[bytes]:
    """The body's pieces of a stream whose first piece came (and was ``first``)."""
    pieces = (await post(client, upstream)).pieces()
    assert await anext(pieces) == b"first"
    return pieces


async def test_stream__pieces_arrive_as_the_server_sends_them(client: wire.Client) -> None:
    step = asyncio.Event()

    async def paced(writer: asyncio.StreamWriter) -> bool:
        writer.write(FIRST)
        await writer.drain()
        await step.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        return True

    upstream = await Upstream(paced, writes(sized())).start()
    try:
        pieces = await first_piece(client, upstream)  # before the server sent the second
        step.set()
        assert [p async for p in pieces] == [b"second"]
        assert await (await post(client, upstream)).read() == ANSWER
    finally:
        await upstream.stop()
    assert upstream.connections == 1


async def test_stream__a_stall_after_the_first_piece_times_out(client: wire.Client) -> None:
    step = asyncio.Event()

    async def stalls(writer: asyncio.StreamWriter) -> bool:
        writer.write(FIRST)
        await step.wait()
        return False

    upstream = await Upstream(stalls).start()
    try:
        pieces = (await post(client, upstream, seconds=0.05)).pieces()
        assert await anext(pieces) == b"first"
        with pytest.raises(TimeoutError):
            await anext(pieces)
    finally:
        step.set()
        await upstream.stop()


async def test_timeout__a_shorter_one_on_a_reused_connection_holds(client: wire.Client) -> None:
    """The connection's one timer, set for a long wait, is set again for a shorter one."""
    step = asyncio.Event()

    async def never(writer: asyncio.StreamWriter) -> bool:
        await step.wait()
        return False

    upstream = await Upstream(writes(sized()), never).start()
    try:
        assert await (await post(client, upstream, seconds=3600.0)).read() == ANSWER
        async with asyncio.timeout(60):  # a guard against a hang, not a measure
            with pytest.raises(TimeoutError, match=r"for 0\.05 s"):
                await post(client, upstream, seconds=0.05)
    finally:
        step.set()
        await upstream.stop()
    assert upstream.connections == 1


async def test_stream__closed_early_drops_an_unfinished_connection(client: wire.Client) -> None:
    step = asyncio.Event()

    async def endless(writer: asyncio.StreamWriter) -> bool:
        writer.write(FIRST)
        await step.wait()
        return False

    upstream = await Upstream(endless, writes(sized())).start()
    try:
        pieces = await first_piece(client, upstream)
        (first,) = transports(client)
        await pieces.aclose()  # what lean's reader does when it stops early: then Opened.close
        await until(first.is_closing)  # after DRAIN_SECONDS
        assert await (await post(client, upstream)).read() == ANSWER
    finally:
        step.set()
        await upstream.stop()
    assert (upstream.connections, len(upstream.requests)) == (2, 2)


async def test_stream__closed_at_done_reuses_the_connection(clients: lean.Clients) -> None:
    """A stream ends at ``[DONE]``, before the chunked body's last line: the connection is
    kept when that line follows."""
    event = b'data: {"id":"c1","object":"chat.completion.chunk","choices":[]}\n\n'

    async def stream(writer: asyncio.StreamWriter) -> bool:
        writer.write(chunked(event, b"data: [DONE]\n\n", content_type=b"text/event-stream")[:-5])
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        return True

    upstream = await Upstream(stream, stream).start()
    try:
        for _ in range(2):
            call = UpstreamCall(TARGET, {"messages": MESSAGES}, raw=True, clients=clients,
                                api_base=f"http://127.0.0.1:{upstream.port}/v1")  # fmt: skip
            events = [e async for batch in await open_stream(call) for e in batch]
            assert events == [event[6:-2]]
            own: wire.Client = clients.get()[1]
            await until(functools.partial(lambda c: idle(c) == 1, own))  # the last line came
    finally:
        await upstream.stop()
    assert (upstream.connections, len(upstream.requests)) == (1, 2)


async def test_close__closes_every_connection(client: wire.Client) -> None:
    upstream = await Upstream(writes(sized()), writes(sized())).start()
    try:
        busy = await post(client, upstream)  # in use
        assert await (await post(client, upstream)).read() == ANSWER  # idle afterwards
        opened = transports(client)
        assert idle(client) == 1
        assert busy.status == 200
        await client.close()
    finally:
        await upstream.stop()
    assert len(opened) == 2
    assert all(t.is_closing() for t in opened)
    assert client._every == set()


def _tls(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for localhost, and a client context
    that trusts it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert = tmp / "cert.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private = tmp / "key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, private)
    server.set_alpn_protocols(["http/1.1"])
    client = wire.default_context()
    client.load_verify_locations(cert)
    return server, client


async def test_tls__https_with_the_host_name_checked_and_kept_alive(tmp_path: Path) -> None:
    server, trusting = _tls(tmp_path)
    upstream = await Upstream(writes(sized()), writes(sized())).start(server)
    client = wire.Client(ssl_context=trusting)
    untrusting = wire.Client()
    try:
        for _ in range(2):
            request = wire.Request(upstream.url("https"), {}, b"{}")
            assert await (await client.send(request, 5.0)).read() == ANSWER
        (connection,) = client._every
        assert connection.transport.get_extra_info("ssl_object").selected_alpn_protocol() == (
            "http/1.1"
        )
        with pytest.raises(ssl.SSLCertVerificationError):  # the system's store does not know it
            await untrusting.send(wire.Request(upstream.url("https"), {}, b"{}"), 5.0)
    finally:
        await client.close()
        await untrusting.close()
        await upstream.stop()
    assert upstream.connections == 1  # kept alive (a failed handshake reaches no handler)


async def test_request__refuses_a_header_with_a_line_break(client: wire.Client) -> None:
    upstream = await Upstream().start()
    try:
        request = wire.Request(upstream.url(), {"X-Key": "a\r\nInjected: b"}, b"{}")
        with pytest.raises(ValueError, match="line break in it"):
            await client.send(request, 5.0)
        with pytest.raises(ValueError, match="a space or a line break in its path"):
            wire.Request(f"http://127.0.0.1:{upstream.port}/v1/a b", {}, b"{}")
    finally:
        await upstream.stop()
    assert upstream.connections == 0


def test_clients__httptools_is_the_own_client() -> None:
    async def kind() -> Any:
        clients = lean.Clients("httptools")
        made = clients.get()
        await clients.aclose()
        return made

    made = asyncio.run(kind())
    assert made[0] == "httptools"
    assert isinstance(made[1], wire.Client)


def test_uvloop__json_and_a_stream_on_one_connection() -> None:
    """``serve`` runs on uvloop: the client works on its loop and transports too."""
    import uvloop

    async def scenario() -> tuple[bytes, list[bytes], int]:
        upstream = await Upstream(writes(sized()), writes(chunked(b"a", b"b"))).start()
        client = wire.Client()
        try:
            whole = await (await post(client, upstream)).read()
            pieces = [p async for p in (await post(client, upstream)).pieces()]
        finally:
            await client.close()
            await upstream.stop()
        return whole, pieces, upstream.connections

    whole, pieces, connections = uvloop.run(scenario())
    assert (whole, b"".join(pieces), connections) == (ANSWER, b"ab", 1)

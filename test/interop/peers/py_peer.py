"""Python `websockets` peer for tslay's interop tests.

  py_peer.py server [--protocol NAME] [--deflate] [--port N]
                                                     echo server on 127.0.0.1, port N or chosen by the OS;
                                                     prints {"port": N}, then one JSON line per closed connection
                                                     (close code and reason, protocol, extensions, and a
                                                     "kind:length:sha256" digest of every message received)
  py_peer.py client URL [--protocol NAME] [--cafile F] [--seed N] [--deflate]
                                                     runs the standard exchange against an echo server and
                                                     prints one JSON line with what it saw

The messages are those of peers.ts `standardMessages(seed)`, generated with the same Mulberry32 numbers.
"""
import asyncio
import hashlib
import json
import ssl
import sys

import websockets


M32 = 0xFFFFFFFF


def seeded_random(seed):
    """Mulberry32, as test/helpers/feed.ts `seededRandom`: the same seed gives the same numbers."""
    a = seed & M32

    def imul(x, y):
        return (x * y) & M32

    def next_random():
        nonlocal a
        a = (a + 0x6D2B79F5) & M32
        t = imul(a ^ (a >> 15), a | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & M32
        return (t ^ (t >> 14)) / 4294967296

    return next_random


def standard_messages(seed):
    """The messages of peers.ts `standardMessages(seed)`, byte for byte."""
    rnd = seeded_random(seed)
    data = bytes(int(rnd() * 256) for _ in range(70000))
    alphabet = ["a", "é", "€", "😀", "z"]
    widths = [len(c.encode()) for c in alphabet]
    chunks = []
    size = 0
    while size < 1 << 20:
        picks = [int(rnd() * 5) for _ in range(4096)]
        chunks.append("".join(alphabet[i] for i in picks))
        size += sum(widths[i] for i in picks)
    return ["hello", b"", data, "".join(chunks)] + [f"burst {i}" for i in range(100)]


def digest(message):
    kind = "text" if isinstance(message, str) else "binary"
    data = message.encode() if isinstance(message, str) else message
    return f"{kind}:{len(data)}:{hashlib.sha256(data).hexdigest()}"


async def serve(protocol, deflate, port):
    async def echo(ws, path=None):
        received = []
        async for message in ws:
            received.append(digest(message))
            await ws.send(message)
        print(json.dumps({"closed": True, "code": ws.close_code, "reason": ws.close_reason,
                          "protocol": ws.subprotocol, "extensions": ws.response_headers.get(
                              "Sec-WebSocket-Extensions", ""), "received": received}), flush=True)

    kwargs = {"max_size": None, "compression": "deflate" if deflate else None}
    if protocol:
        kwargs["subprotocols"] = [protocol]
    async with websockets.serve(echo, "127.0.0.1", port, **kwargs) as server:
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        await asyncio.Future()


async def client(url, protocol, cafile, seed, deflate):
    kwargs = {"max_size": None, "compression": "deflate" if deflate else None}
    if protocol:
        kwargs["subprotocols"] = [protocol]
    if cafile:
        kwargs["ssl"] = ssl.create_default_context(cafile=cafile)
    report = {"echoes": 0, "mismatches": []}
    async with websockets.connect(url, **kwargs) as ws:
        report["protocol"] = ws.subprotocol
        report["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        messages = standard_messages(seed)
        for i, m in enumerate(messages[:4]):
            await ws.send(m)
            check(report, i, m, await ws.recv())
        for m in messages[4:]:
            await ws.send(m)
        for i, m in enumerate(messages[4:], 4):
            check(report, i, m, await ws.recv())
        pong = await ws.ping(b"ping-payload")
        await asyncio.wait_for(pong, 10)
        report["pong"] = True
        await ws.close(1000, "done here")
        report["close_code"] = ws.close_code
        report["close_reason"] = ws.close_reason
    print(json.dumps(report), flush=True)


def check(report, index, sent, got):
    if type(sent) is type(got) and sent == got:
        report["echoes"] += 1
    else:
        report["mismatches"].append({"index": index, "sent_type": type(sent).__name__, "got_type": type(got).__name__,
                                     "sent_len": len(sent), "got_len": len(got)})


def option(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(serve(option("--protocol"), "--deflate" in sys.argv, int(option("--port", "0"))))
    else:
        asyncio.run(client(sys.argv[2], option("--protocol"), option("--cafile"), int(option("--seed", "1")),
                           "--deflate" in sys.argv))

"""A scripted HTTP/2 peer (Python's `h2`, Debian python3-h2) for tslay's RFC 8441 tests.

  h2_peer.py PORT SCENARIO [PATH]

Connects to 127.0.0.1:PORT with HTTP/2 prior knowledge (no TLS), runs one scenario and prints one JSON line with
what it saw. The WebSocket frames are built and parsed here, byte by byte, as a client sends them (masked).

  settings   the server's SETTINGS (SETTINGS_ENABLE_CONNECT_PROTOCOL must be 1)
  echo       three WebSockets on one connection: a message each, then a close each; statuses, headers, echoes,
             close frames, whether each stream ended after its close, and the RST_STREAM code that finished it
  flow       stream A carries one 16 MiB message: stream B's round trips go on while A's upload is under way,
             and again while A's echo is held by A's own receive window (the connection's window reopens,
             A's does not); then A's window reopens and A's whole echo must arrive
  reset      streams A and B; A is reset (RST_STREAM CANCEL); B must still echo
  bad        requests that must be refused, and their statuses
"""
import hashlib
import json
import os
import socket
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

PORT = int(sys.argv[1])
SCENARIO = sys.argv[2]
PATH = sys.argv[3] if len(sys.argv) > 3 else "/"


def mask_bytes(payload, key):
    if not payload:
        return b""
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame(opcode, payload, key=b"\x37\xfa\x21\x3d"):
    """A masked client frame with FIN set (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + mask_bytes(payload, key)


class FrameReader:
    """Unmasked server frames from a stream's bytes."""

    def __init__(self):
        self.buffer = b""
        self.frames = []

    def feed(self, data):
        self.buffer += data
        while True:
            b = self.buffer
            if len(b) < 2:
                return
            if b[1] & 0x80:
                raise ValueError("a server frame is masked")
            n = b[1] & 0x7F
            at = 2
            if n == 126:
                if len(b) < 4:
                    return
                n, at = int.from_bytes(b[2:4], "big"), 4
            elif n == 127:
                if len(b) < 10:
                    return
                n, at = int.from_bytes(b[2:10], "big"), 10
            if len(b) < at + n:
                return
            self.frames.append((b[0] & 0x0F, bool(b[0] & 0x80), b[at : at + n]))
            self.buffer = b[at + n :]


class Peer:
    def __init__(self, validate=True):
        self.sock = socket.create_connection(("127.0.0.1", PORT))
        config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=validate)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.flush()
        self.remote_settings = None
        self.streams = {}  # id -> {"headers", "reader", "ended", "reset", "data"}
        self.ack_streams = True
        self.held = {}  # stream id -> bytes received but not yet given back to the stream's window
        while self.remote_settings is None:
            self.pump()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def state(self, stream_id):
        return self.streams.setdefault(
            stream_id,
            {"headers": None, "reader": FrameReader(), "ended": False, "reset": None, "bytes": 0},
        )

    def pump(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError("the server closed the connection")
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self.remote_settings = {int(k): v.new_value for k, v in event.changed_settings.items()}
            elif isinstance(event, h2.events.ResponseReceived):
                self.state(event.stream_id)["headers"] = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h2.events.DataReceived):
                s = self.state(event.stream_id)
                s["bytes"] += len(event.data)
                s["reader"].feed(event.data)
                size = event.flow_controlled_length
                if self.ack_streams or event.stream_id not in self.hold_ids:
                    self.conn.acknowledge_received_data(size, event.stream_id)
                else:
                    # The connection's window reopens, the stream's does not.
                    self.conn.increment_flow_control_window(size)
                    self.held[event.stream_id] = self.held.get(event.stream_id, 0) + size
            elif isinstance(event, h2.events.StreamEnded):
                self.state(event.stream_id)["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                self.state(event.stream_id)["reset"] = int(event.error_code)
            elif isinstance(event, h2.events.WindowUpdated):
                pass
        self.flush()

    hold_ids = set()

    def request(self, headers, end_stream=False):
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, headers, end_stream=end_stream)
        self.flush()
        self.state(stream_id)
        return stream_id

    def websocket(self, extra=()):
        return self.request(
            [
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "http"),
                (":path", PATH),
                (":authority", f"127.0.0.1:{PORT}"),
                ("sec-websocket-version", "13"),
                *extra,
            ]
        )

    def until(self, predicate):
        while not predicate():
            self.pump()

    def send_some(self, stream_id, view):
        """Sends what the windows allow of `view` on the stream; returns what is left."""
        while view:
            window = min(
                self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size
            )
            if window <= 0:
                break
            self.conn.send_data(stream_id, view[:window].tobytes())
            view = view[window:]
        self.flush()
        return view

    def send(self, stream_id, data):
        """Sends all of `data` on the stream, reading whatever arrives while the windows are closed."""
        view = self.send_some(stream_id, data if isinstance(data, memoryview) else memoryview(data))
        while view:
            self.pump()
            view = self.send_some(stream_id, view)

    def status(self, stream_id):
        self.until(lambda: self.streams[stream_id]["headers"] is not None or self.streams[stream_id]["reset"] is not None)
        headers = self.streams[stream_id]["headers"]
        return None if headers is None else int(headers[":status"])

    def frames(self, stream_id):
        return self.streams[stream_id]["reader"].frames


def text_of(frames):
    return [payload.decode() for opcode, _, payload in frames if opcode == 1]


def close_of(frames):
    for opcode, _, payload in frames:
        if opcode == 8:
            return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
    return None


def run_settings():
    peer = Peer()
    return {"enableConnectProtocol": peer.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)}


def run_echo():
    peer = Peer()
    ids = [peer.websocket(), peer.websocket([("sec-websocket-protocol", "chat, superchat")]), peer.websocket()]
    statuses = [peer.status(i) for i in ids]
    headers = [peer.streams[i]["headers"] for i in ids]
    for n, i in enumerate(ids):
        peer.send(i, frame(1, f"message on stream {n}".encode()))
    peer.until(lambda: all(text_of(peer.frames(i)) for i in ids))
    echoes = [text_of(peer.frames(i)) for i in ids]
    for i in ids:
        peer.send(i, frame(8, (1000).to_bytes(2, "big") + b"bye"))
    peer.until(lambda: all(close_of(peer.frames(i)) is not None and peer.streams[i]["ended"] for i in ids))
    # Once its END_STREAM is out, the server finishes the stream with RST_STREAM(NO_ERROR) (RFC 9113 section
    # 8.1) rather than waiting for ours: clients such as undici never end their side.
    peer.until(lambda: all(peer.streams[i]["reset"] is not None for i in ids))
    return {
        "statuses": statuses,
        "headers": headers,
        "echoes": echoes,
        "closes": [close_of(peer.frames(i)) for i in ids],
        "ended": [peer.streams[i]["ended"] for i in ids],
        "resets": [peer.streams[i]["reset"] for i in ids],
    }


def run_flow():
    peer = Peer()
    a, b = peer.websocket(), peer.websocket()
    peer.status(a)
    peer.status(b)
    big = os.urandom(16 << 20)

    def round_trips(first):
        for n in range(first, first + 20):
            peer.send(b, frame(1, f"b {n}".encode()))
        peer.until(lambda: len(text_of(peer.frames(b))) == first + 20)

    # 1. A's upload is under way (as much as the windows allow): B's round trips go on beside it.
    rest = peer.send_some(a, memoryview(frame(2, big, key=b"\x00\x00\x00\x00")))
    round_trips(0)
    unsent_during_upload = len(rest)
    # 2. A's upload completes with A's receive window held (the connection's reopens, A's does not): the
    #    server's echo of A stops at A's window, and B's round trips still go on.
    peer.hold_ids = {a}
    peer.ack_streams = False
    peer.send(a, rest)
    round_trips(20)
    received_while_held = peer.streams[a]["bytes"]
    # 3. A's window reopens: A's whole echo arrives.
    peer.hold_ids = set()
    peer.ack_streams = True
    for stream_id, size in peer.held.items():
        peer.conn.increment_flow_control_window(size, stream_id)
    peer.flush()
    peer.until(lambda: any(op == 2 for op, _, _ in peer.frames(a)))
    echo = b"".join(p for op, _, p in peer.frames(a) if op in (0, 2))
    return {
        "bEchoes": text_of(peer.frames(b)),
        "aUnsentDuringUpload": unsent_during_upload,
        "aReceivedWhileHeld": received_while_held,
        "aEchoLength": len(echo),
        "aEchoSame": echo == big,
    }


def run_reset():
    peer = Peer()
    a, b = peer.websocket(), peer.websocket()
    peer.status(a)
    peer.status(b)
    peer.send(a, frame(1, b"before the reset"))
    peer.until(lambda: text_of(peer.frames(a)))
    peer.conn.reset_stream(a, error_code=8)
    peer.flush()
    peer.send(b, frame(1, b"after the reset"))
    peer.until(lambda: text_of(peer.frames(b)))
    return {"a": text_of(peer.frames(a)), "b": text_of(peer.frames(b))}


def run_bad():
    # A plain CONNECT (a tunnel request) has no :scheme and :path, which h2 would refuse to send otherwise.
    peer = Peer(validate=False)
    authority = f"127.0.0.1:{PORT}"
    cases = {
        "get": [(":method", "GET"), (":scheme", "http"), (":path", PATH), (":authority", authority)],
        "unknownProtocol": [
            (":method", "CONNECT"),
            (":protocol", "chat"),
            (":scheme", "http"),
            (":path", PATH),
            (":authority", authority),
            ("sec-websocket-version", "13"),
        ],
        "tunnel": [(":method", "CONNECT"), (":authority", "example.com:443")],
        "noVersion": [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", PATH),
            (":authority", authority),
        ],
        "version8": [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", PATH),
            (":authority", authority),
            ("sec-websocket-version", "8"),
        ],
        "badProtocols": [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", PATH),
            (":authority", authority),
            ("sec-websocket-version", "13"),
            ("sec-websocket-protocol", "chat, chat"),
        ],
        "otherPath": [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", "/elsewhere"),
            (":authority", authority),
            ("sec-websocket-version", "13"),
        ],
    }
    result = {}
    for name, headers in cases.items():
        stream_id = peer.request(headers, end_stream=(headers[0][1] == "GET"))
        status = peer.status(stream_id)
        peer.until(lambda: peer.streams[stream_id]["ended"] or peer.streams[stream_id]["reset"] is not None)
        entry = {"status": status}
        version = (peer.streams[stream_id]["headers"] or {}).get("sec-websocket-version")
        if version is not None:
            entry["version"] = version
        result[name] = entry
    return result


SCENARIOS = {"settings": run_settings, "echo": run_echo, "flow": run_flow, "reset": run_reset, "bad": run_bad}
print(json.dumps(SCENARIOS[SCENARIO]()), flush=True)

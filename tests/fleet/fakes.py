"""Local stand-ins for what lies outside this machine: ASIC miners and DCGM exporters.

They speak the real protocols on 127.0.0.x addresses (asic-rs has no port setting, so each fake
miner takes its own loopback address with the standard ports 4028 and 80):
- :class:`FakeAntminer`: the bmminer JSON-over-TCP API on port 4028 and the stock web CGI API on
  port 80 behind HTTP digest auth (root/root), sleep and wake through ``set_miner_conf.cgi``;
- :class:`FakeBitaxe`: the AxeOS REST API on port 80, pause and resume;
- :class:`FakeProto`: a Proto rig's MDK REST API on port 80 behind a bearer token, power target,
  pause and resume (the one fake whose firmware asic-rs can set a power limit on);
- :class:`FakeExporter`: a dcgm-exporter ``/metrics`` endpoint on an ephemeral port.
Replies are recorded ones (``fixtures/SOURCES.md``); state changes are applied on top of them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
REALM = "antMiner Configuration"
NONCE = "f1e3b1c6a9d04b0e"


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# asic-rs sends a miner several requests at once (a Proto rig: nine): with the default accept
# queue of 5 the kernel drops the surplus SYNs and each retry costs the client a second.
class _TCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


class _HTTP(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


class _Device:
    """A fake device: servers on its own address, a request log, start/stop."""

    def __init__(self, ip: str):
        self.ip = ip
        self.requests: list[str] = []
        self._servers: list[socketserver.BaseServer] = []
        self._lock = threading.Lock()

    def _serve(self, server: socketserver.BaseServer) -> None:
        self._servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def log(self, entry: str) -> None:
        with self._lock:
            self.requests.append(entry)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def _digest_ok(header: str, method: str, password: str = "root") -> bool:
    """RFC 7616 digest check (MD5, qop=auth), as the miner's lighttpd does it."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
    if fields.get("username") != "root" or fields.get("nonce") != NONCE:
        return False
    ha1 = hashlib.md5(f"root:{REALM}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{fields.get('uri')}".encode()).hexdigest()
    expected = hashlib.md5(
        f"{ha1}:{NONCE}:{fields.get('nc')}:{fields.get('cnonce')}:{fields.get('qop')}:{ha2}".encode()
    ).hexdigest()
    return fields.get("response") == expected


class FakeAntminer(_Device):
    """An Antminer on stock firmware. ``sleeping`` is the miner-mode the fake is in; ``power_w`` is
    added to the stats reply as ``chain_power`` (the capture has no power field) so power is read."""

    def __init__(
        self,
        ip: str,
        *,
        sleeping: bool = False,
        power_w: float = 3300.0,
        hashrate_ghs: float | None = None,
        stubborn: bool = False,
        latency_s: float = 0.0,
    ):
        super().__init__(ip)
        self.stubborn = stubborn  # accepts miner-mode changes but keeps doing what it did
        self.latency_s = latency_s  # network + miner CPU time per request (a real CGI takes 50-500 ms)
        self.sleeping = sleeping
        self.power_w = power_w
        self.hashrate_ghs = hashrate_ghs
        self.conf = _load("antminer_web_miner_conf.json")
        self.conf["bitmain-work-mode"] = "1" if sleeping else "0"

    # --- replies -------------------------------------------------------------------------------
    def rpc_reply(self, command: str) -> dict:
        names = {"version": "antminer_rpc_version.json", "summary": "antminer_rpc_summary.json",
                 "stats": "antminer_rpc_stats.json", "pools": "antminer_rpc_pools.json"}  # fmt: skip
        if command not in names:
            return {"STATUS": [{"STATUS": "E", "When": 0, "Code": 14, "Msg": "Invalid command"}], "id": 1}
        reply = copy.deepcopy(_load(names[command]))
        rate = 0.0 if self.sleeping else self.hashrate_ghs
        if command == "stats":
            block = reply["STATS"][1]
            block["chain_power"] = f"{0 if self.sleeping else self.power_w:.0f} W"
            if rate is not None:
                share = rate / 3
                for key in ("GHS 5s", "GHS av", "total rate", "rate_30m"):
                    block[key] = rate
                for i in (1, 2, 3):
                    block[f"chain_rate{i}"] = f"{share:.2f}"
        if command == "summary" and rate is not None:
            reply["SUMMARY"][0]["GHS 5s"] = reply["SUMMARY"][0]["GHS av"] = rate
        return reply

    def web_reply(self, name: str, body: bytes) -> dict | None:
        if name == "set_miner_conf":
            conf = json.loads(body or b"{}")
            mode = str(conf.get("miner-mode", conf.get("bitmain-work-mode", self.conf["bitmain-work-mode"])))
            if not self.stubborn:
                self.conf["bitmain-work-mode"] = mode
                self.sleeping = mode == "1"
            return _load("antminer_web_set_miner_conf.json")
        if name == "get_miner_conf":
            return copy.deepcopy(self.conf)
        files = {"summary": "antminer_web_summary.json", "get_system_info": "antminer_web_system_info.json",
                 "miner_type": "antminer_web_miner_type.json", "get_blink_status": "antminer_web_blink.json"}  # fmt: skip
        if name in files:
            reply = _load(files[name])
            if name == "summary" and self.sleeping:
                reply["SUMMARY"][0]["rate_5s"] = 0.0
            return reply
        return None

    # --- servers -------------------------------------------------------------------------------
    def start(self) -> None:
        device = self

        class RPC(socketserver.BaseRequestHandler):
            def handle(self):
                data = self.request.recv(65536)
                try:
                    command = json.loads(data)["command"]
                except (ValueError, KeyError, TypeError):
                    command = ""
                device.log(f"rpc {command}")
                time.sleep(device.latency_s)
                self.request.sendall(json.dumps(device.rpc_reply(command)).encode() + b"\x00")

        class Web(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                auth = self.headers.get("Authorization", "")
                if self.path == "/" or not auth.startswith("Digest ") or not _digest_ok(auth, self.command):
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate", f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth"'
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                match = re.fullmatch(r"/cgi-bin/(\w+)\.cgi", self.path.split("?")[0])
                device.log(f"web {self.command} {self.path}")
                time.sleep(device.latency_s)
                reply = device.web_reply(match.group(1), body) if match else None
                payload = json.dumps(reply).encode() if reply is not None else b""
                self.send_response(200 if reply is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _any

            def log_message(self, *args):
                pass

        self._serve(_TCP((self.ip, 4028), RPC))
        self._serve(_HTTP((self.ip, 80), Web))


class FakeBitaxe(_Device):
    """A Bitaxe on AxeOS: ``/api/system/info`` and ``/api/system/asic``; pause and resume."""

    def __init__(self, ip: str, *, paused: bool = False):
        super().__init__(ip)
        self.paused = paused

    def start(self) -> None:
        device = self

        class Web(BaseHTTPRequestHandler):
            def _reply(self, status: int, payload: bytes, kind: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?")[0]
                device.log(f"web {self.command} {path}")
                if path == "/":
                    return self._reply(200, b"<html><head><title>AxeOS</title></head></html>", "text/html")
                if path == "/api/system/info":
                    info = _load("bitaxe_system_info.json")
                    info["miningPaused"] = device.paused
                    if device.paused:
                        info["hashRate"], info["power"] = 0.0, 3.1
                    return self._reply(200, json.dumps(info).encode())
                if path == "/api/system/asic":
                    return self._reply(200, (FIXTURES / "bitaxe_system_asic.json").read_bytes())
                if path in ("/api/system/pause", "/api/system/resume") and self.command == "POST":
                    device.paused = path.endswith("pause")
                    return self._reply(200, b"")
                return self._reply(404, b"")

            do_GET = do_POST = do_PATCH = _any

            def log_message(self, *args):
                pass

        self._serve(_HTTP((self.ip, 80), Web))


class FakeProto(_Device):
    """A Proto rig on Proto OS: the MDK REST API on port 80 (``/api/v1/...``) behind a bearer
    token from ``POST /api/v1/auth/login``; power target (``PUT /api/v1/mining/target``), pause
    and resume (``POST /api/v1/mining/stop`` / ``start``).

    ``power_target_w`` is the target set on the rig (None: never set, the rig reports its default
    ``default_target_w``); the rig draws ``min(power_w, power_target_w)`` while mining and
    ``idle_w`` when stopped. Targets outside ``[min_target_w, max_target_w]`` are refused with
    422, as the firmware does. ``password`` None accepts any login (no password set yet, which
    is how asic-rs logs in by default: an empty password)."""

    FIXTURE_POWER_W = 3466.397308943879  # the recorded telemetry's miner power, for scaling hashrate

    def __init__(
        self,
        ip: str,
        *,
        sleeping: bool = False,
        power_w: float = 3300.0,
        power_target_w: float | None = None,
        idle_w: float = 0.0,
        default_target_w: int = 3400,
        min_target_w: int = 2000,
        max_target_w: int = 4000,
        password: str | None = None,
    ):
        super().__init__(ip)
        self.sleeping = sleeping
        self.power_w = power_w
        self.power_target_w = power_target_w
        self.idle_w = idle_w
        self.default_target_w = default_target_w
        self.min_target_w = min_target_w
        self.max_target_w = max_target_w
        self.password = password
        self.tokens: set[str] = set()

    @property
    def wattage(self) -> float:
        """What the rig draws now."""
        if self.sleeping:
            return self.idle_w
        return self.power_w if self.power_target_w is None else min(self.power_w, self.power_target_w)

    def _target(self) -> dict:
        """The ``GET/PUT /api/v1/mining/target`` reply (MiningTargetResponse of the MDK API)."""
        target = self.default_target_w if self.power_target_w is None else self.power_target_w
        return {"power_target_watts": int(round(target)), "power_target_min_watts": self.min_target_w,
                "power_target_max_watts": self.max_target_w,
                "default_power_target_watts": self.default_target_w,
                "performance_mode": "MaximumHashrate", "hash_on_disconnect": False}  # fmt: skip

    # --- replies -------------------------------------------------------------------------------
    def reply(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        """``(status, JSON payload)`` for an authenticated request."""
        watts = self.wattage
        scale = 0.0 if self.sleeping else watts / self.FIXTURE_POWER_W
        if method == "GET" and path == "/api/v1/mining":
            reply = _load("proto_mining.json")
            status = reply["mining-status"]
            status["status"] = "Stopped" if self.sleeping else "Mining"
            status["hashrate_ghs"] = status["average_hashrate_ghs"] = 141147.4350314711 * scale
            status["power_usage_watts"] = watts
            status["power_target_watts"] = self._target()["power_target_watts"]
            status["hashboards_mining"] = 0 if self.sleeping else status["hashboards_installed"]
            return 200, reply
        if method == "GET" and path == "/api/v1/telemetry":
            reply = _load("proto_telemetry.json")
            reply["miner"]["hashrate"]["value"] *= scale
            reply["miner"]["power"]["value"] = watts
            for board in reply["hashboards"]:
                board["hashrate"]["value"] *= scale
                board["power"]["value"] = watts / len(reply["hashboards"])
            return 200, reply
        if path == "/api/v1/mining/target":
            if method == "GET":
                return 200, self._target()
            if method == "PUT":
                try:
                    watts_asked = json.loads(body or b"{}").get("power_target_watts")
                except ValueError:
                    watts_asked = None
                if not isinstance(watts_asked, int) or isinstance(watts_asked, bool):
                    return 400, _error("INVALID_REQUEST", "Invalid request body")
                if not self.min_target_w <= watts_asked <= self.max_target_w:
                    return 422, _error(
                        "OUT_OF_RANGE",
                        f"power_target_watts must be between {self.min_target_w} and {self.max_target_w}",
                    )
                self.power_target_w = float(watts_asked)
                return 200, self._target()
        if method == "POST" and path in ("/api/v1/mining/start", "/api/v1/mining/stop"):
            self.sleeping = path.endswith("stop")
            return 202, {"message": "Mining stopped" if self.sleeping else "Mining started"}
        files = {"/api/v1/pools": "proto_pools.json", "/api/v1/cooling": "proto_cooling.json"}
        if method == "GET" and path in files:
            return 200, _load(files[path])
        if method == "GET" and path == "/api/v1/errors":
            return 200, []  # a healthy rig
        return 404, _error("NOT_FOUND", "Not found")

    # --- server --------------------------------------------------------------------------------
    def start(self) -> None:
        device = self
        public = {"/api/v1/system": "proto_system.json", "/api/v1/network": "proto_network.json",
                  "/api/v1/hardware": "proto_hardware.json"}  # fmt: skip

        class Web(BaseHTTPRequestHandler):
            def _reply(self, status: int, payload: object, kind: str = "application/json"):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                device.log(f"web {self.command} {self.path}")
                if path == "/" and self.command == "GET":
                    page = b"<!doctype html><html><head><title>Proto OS</title></head><body></body></html>"
                    return self._reply(200, page, "text/html")
                if path in public and self.command == "GET":
                    return self._reply(200, _load(public[path]))
                if path == "/api/v1/auth/login":
                    return self._login(body)
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                if token not in device.tokens:
                    return self._reply(401, _error("UNAUTHORIZED", "Missing or invalid bearer token"))
                with device._lock:
                    status, payload = device.reply(self.command, path, body)
                return self._reply(status, payload)

            def _login(self, body: bytes):
                if self.command != "POST":
                    return self._reply(405, _error("METHOD_NOT_ALLOWED", "Method not allowed"))
                try:
                    password = json.loads(body or b"{}").get("password")
                except ValueError:
                    return self._reply(400, _error("INVALID_REQUEST", "Invalid request body"))
                if device.password is not None and password != device.password:
                    return self._reply(401, _error("UNAUTHORIZED", "Invalid password"))
                token = f"access-{secrets.token_hex(8)}"
                device.tokens.add(token)
                return self._reply(200, {"access_token": token, "refresh_token": f"refresh-{token}"})

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args):
                pass

        self._serve(_HTTP((self.ip, 80), Web))


def _error(code: str, message: str) -> dict:
    """The MDK API's error body."""
    return {"error": {"code": code, "message": message}}


class FakeExporter(_Device):
    """A dcgm-exporter serving the recorded scrape, with ``Hostname`` set to ``host``; ``port`` 0
    takes an ephemeral port (see :attr:`url`)."""

    def __init__(self, host: str, *, ip: str = "127.0.0.1", port: int = 0, power_w: float | None = None):
        super().__init__(ip)
        self.host = host
        self.port = port
        self.power_w = power_w

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}/metrics"

    def text(self) -> str:
        text = (
            (FIXTURES / "dcgm_exporter.prom")
            .read_text()
            .replace('Hostname="dcgm-node"', f'Hostname="{self.host}"')
        )
        if self.power_w is not None:
            text = re.sub(
                r"^(DCGM_FI_DEV_POWER_USAGE\{.*\}) \S+$", rf"\g<1> {self.power_w}", text, flags=re.M
            )
        return text

    def start(self) -> None:
        device = self

        class Web(BaseHTTPRequestHandler):
            def do_GET(self):
                device.log(f"web GET {self.path}")
                payload = device.text().encode() if self.path == "/metrics" else b""
                self.send_response(200 if payload else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        server = _HTTP((self.ip, self.port), Web)
        self.port = server.server_address[1]
        self._serve(server)

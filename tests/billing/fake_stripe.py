"""A local HTTP server speaking the subset of Stripe's API the sync uses, with Stripe's
idempotency semantics and injectable faults (dropped connection, 500, 429).

Idempotency as Stripe documents it: the first response to a key is saved and replayed for any
later request with that key (``Idempotent-Replayed: true``); a request reusing a key with other
parameters is refused (400 idempotency_error). Faults injected before the request executes are
not saved (the request never ran), as with a load balancer error; a ``drop_after`` fault executes
the request, saves the result, then closes the connection without answering.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import re
import socket
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


def _nest(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (``metadata[key]=v``, ``lines[0][type]=v``) back to nested dicts and
    lists."""
    out: dict = {}
    for key, value in pairs:
        *path, last = re.findall(r"[^\[\]]+", key)
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return _listify(out)


def _listify(node):
    """Dicts keyed 0, 1, ... (Stripe's list encoding) become lists."""
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with a webhook: ``t=<unix time>,v1=<hex>``, where
    v1 is HMAC-SHA256 of ``<t>.<payload>`` keyed with the endpoint's ``whsec_`` secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def webhook_event(
    event_type: str, obj: dict, event_id: str | None = None, created: int | None = None
) -> bytes:
    """A webhook body as Stripe sends it: an ``event`` object wrapping ``obj`` (JSON bytes)."""
    event = {
        "id": event_id or f"evt_{next(_event_ids):024d}",
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


_event_ids = itertools.count(1)


def _invalid(message: str) -> dict:
    return {"error": {"type": "invalid_request_error", "message": message}}


class FakeStripe:
    """Start with ``with FakeStripe() as server``; ``server.url`` is the API base."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict]] = defaultdict(dict)
        self.saved: dict[str, tuple[str, str, int, bytes]] = {}  # key -> (path, params, status, body)
        self.faults: list[tuple[str, str]] = []  # (path prefix, drop_before|drop_after|500|429)
        self.requests: list[tuple[str, str | None, str]] = []  # (path, idempotency key, outcome)
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                fake.handle(self)

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                fake.handle_get(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def signed_event(self, event_type: str, obj: dict, secret: str, **kwargs) -> tuple[bytes, dict[str, str]]:
        """A webhook delivery of this server's Stripe: body and headers, signed with ``secret``."""
        body = webhook_event(event_type, obj, **kwargs)
        return body, {"Stripe-Signature": sign_payload(body, secret), "Content-Type": "application/json"}

    def expire_keys(self) -> None:
        """Stripe forgets idempotency keys after 24 hours: a later request with the same key runs again."""
        with self.lock:
            self.saved.clear()

    def handle_get(self, handler: BaseHTTPRequestHandler) -> None:
        """Search (``/v1/customers/search``, ``/v1/invoices/search`` with ``metadata['k']:'v'`` terms
        joined by AND) and lists of an invoice's items and credit notes (``?invoice=``)."""
        path, _, query = handler.path.partition("?")
        params = dict(parse_qsl(query))
        parts = path.strip("/").split("/")
        with self.lock:
            self.requests.append((path, None, "get"))
            if (
                len(parts) == 3
                and parts[0] == "v1"
                and parts[2] == "search"
                and parts[1] in ("customers", "invoices")
            ):
                terms = re.findall(r"metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'", params.get("query", ""))
                kind = parts[1][:-1]
                found = [
                    o for o in self.objects[kind].values()
                    if all((o.get("metadata") or {}).get(k) == v.replace("\\'", "'") for k, v in terms)
                ]  # fmt: skip
                return self._send(handler, 200, {"object": "search_result", "data": found, "has_more": False})
            if len(parts) == 2 and parts[0] == "v1" and parts[1] in ("invoiceitems", "credit_notes"):
                kind = {"invoiceitems": "invoiceitem", "credit_notes": "credit_note"}[parts[1]]
                found = [o for o in self.objects[kind].values() if o.get("invoice") == params.get("invoice")]
                return self._send(handler, 200, {"object": "list", "data": found, "has_more": False})
        return self._send(handler, 404, _invalid(f"unknown path {path}"))

    def inject(self, path_prefix: str, fault: str) -> None:
        """The next request whose path starts with ``path_prefix`` suffers ``fault``."""
        self.faults.append((path_prefix, fault))

    def _take_fault(self, path: str) -> str | None:
        for i, (prefix, fault) in enumerate(self.faults):
            if path.startswith(prefix):
                del self.faults[i]
                return fault
        return None

    # --- request handling -----------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode()
        key = handler.headers.get("Idempotency-Key")
        path = handler.path.split("?")[0]
        with self.lock:
            fault = self._take_fault(path)
            if fault == "drop_before":
                self.requests.append((path, key, "dropped"))
                return self._drop(handler)
            if fault in ("500", "429"):
                self.requests.append((path, key, fault))
                kind = "api_error" if fault == "500" else "rate_limit_error"
                return self._send(
                    handler, int(fault), {"error": {"type": kind, "message": f"injected {fault}"}}
                )
            if key and key in self.saved:
                saved_path, saved_params, status, payload = self.saved[key]
                if (saved_path, saved_params) != (path, body):
                    self.requests.append((path, key, "idempotency_error"))
                    return self._send(
                        handler,
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                            }
                        },
                    )
                self.requests.append((path, key, "replayed"))
                if fault == "drop_after":
                    return self._drop(handler)
                return self._send(handler, status, payload, replayed=True)
            status, payload = self._execute(path, _nest(parse_qsl(body)))
            raw = json.dumps(payload).encode()
            if key:
                self.saved[key] = (path, body, status, raw)
            self.requests.append((path, key, "executed"))
            if fault == "drop_after":
                return self._drop(handler)
            return self._send(handler, status, raw)

    def _execute(self, path: str, params: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "customers"] and len(parts) == 2:
            return 200, self._create("customer", "cus", params)
        if parts[:2] == ["v1", "invoices"] and len(parts) == 2:
            params.setdefault("status", "draft")
            return 200, self._create("invoice", "in", params)
        if parts[:2] == ["v1", "invoiceitems"] and len(parts) == 2:
            invoice = self.objects["invoice"].get(params.get("invoice", ""))
            if invoice is None or invoice["status"] != "draft":
                return 400, {"error": {"type": "invalid_request_error", "message": "invoice is not a draft"}}
            params["amount"] = int(params["amount"])
            return 200, self._create("invoiceitem", "ii", params)
        if parts[:2] == ["v1", "invoices"] and len(parts) == 4 and parts[3] == "finalize":
            invoice = self.objects["invoice"].get(parts[2])
            if invoice is None:
                return 404, {"error": {"type": "invalid_request_error", "message": "no such invoice"}}
            invoice["status"] = "open"
            invoice["total"] = sum(
                i["amount"] for i in self.objects["invoiceitem"].values() if i.get("invoice") == parts[2]
            )
            return 200, invoice
        if parts[:2] == ["v1", "credit_notes"] and len(parts) == 2:
            return self._credit_note(params)
        return 404, {"error": {"type": "invalid_request_error", "message": f"unknown path {path}"}}

    def _credit_note(self, params: dict) -> tuple[int, dict]:
        """A credit note on a finalized invoice, for ``amount`` or custom ``lines``; like Stripe, the
        credit notes of an invoice cannot credit more than its total."""
        invoice = self.objects["invoice"].get(params.get("invoice", ""))
        if invoice is None or invoice["status"] == "draft":
            return 400, _invalid("a credit note needs a finalized invoice")
        lines = params.get("lines", [])
        if ("amount" in params) == bool(lines):
            return 400, _invalid("one of amount or lines must be provided")
        for line in lines:
            if line.get("type") != "custom_line_item" or int(line["unit_amount"]) <= 0:
                return 400, _invalid("custom_line_item lines need a positive unit_amount")
            line["unit_amount"], line["quantity"] = int(line["unit_amount"]), int(line.get("quantity", 1))
        total = (
            int(params["amount"])
            if "amount" in params
            else sum(line["unit_amount"] * line["quantity"] for line in lines)
        )
        credited = sum(
            c["total"] for c in self.objects["credit_note"].values() if c["invoice"] == invoice["id"]
        )
        if total <= 0 or credited + total > invoice["total"]:
            return 400, _invalid(
                f"credit of {total} exceeds what remains of invoice total {invoice['total']}"
            )
        return 200, self._create("credit_note", "cn", {**params, "total": total, "status": "issued"})

    def _create(self, kind: str, prefix: str, params: dict) -> dict:
        obj = {"id": f"{prefix}_{next(self.ids):06d}", "object": kind, **params}
        self.objects[kind][obj["id"]] = obj
        return obj

    @staticmethod
    def _send(handler, status: int, payload: dict | bytes, replayed: bool = False) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.send_header("Request-Id", f"req_{threading.get_ident()}")
        if replayed:
            handler.send_header("Idempotent-Replayed", "true")
        handler.end_headers()
        handler.wfile.write(raw)

    @staticmethod
    def _drop(handler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

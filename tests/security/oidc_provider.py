"""A small OpenID Connect provider on 127.0.0.1 for the SSO tests: discovery, authorize (signs the
configured user in at once), token (authorization code with PKCE, an RS256 id_token) and JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey


class OidcProvider:
    """``with OidcProvider(client_id, client_secret, email) as idp``: ``idp.issuer`` is its URL."""

    def __init__(self, client_id: str, client_secret: str, email: str, email_verified: bool = True):
        self.client_id, self.client_secret = client_id, client_secret
        self.claims = {"email": email, "email_verified": email_verified, "sub": "user-1", "name": "SSO User"}
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.codes: dict[str, dict] = {}
        self.requests: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                provider._get(self)

            def do_POST(self) -> None:  # noqa: N802
                provider._post(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _json(handler, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def _get(self, handler) -> None:
        url = urlparse(handler.path)
        self.requests.append(url.path)
        if url.path == "/.well-known/openid-configuration":
            return self._json(
                handler,
                200,
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                },
            )
        if url.path == "/jwks":
            return self._json(handler, 200, {"keys": [self.key.as_dict(private=False)]})
        if url.path == "/authorize":
            query = dict(parse_qsl(url.query))
            if query.get("client_id") != self.client_id:
                return self._json(handler, 400, {"error": "unauthorized_client"})
            code = secrets.token_urlsafe(16)
            self.codes[code] = query
            target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
            handler.send_response(302)
            handler.send_header("Location", target)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        return self._json(handler, 404, {"error": "not_found"})

    def _post(self, handler) -> None:
        self.requests.append(handler.path)
        body = dict(parse_qsl(handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()))
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return self._json(handler, 401, {"error": "invalid_client"})
        request = self.codes.pop(body.get("code", ""), None)
        if request is None or body.get("redirect_uri") != request["redirect_uri"]:
            return self._json(handler, 400, {"error": "invalid_grant"})
        if "code_challenge" in request:
            verifier = body.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
            if challenge != request["code_challenge"]:
                return self._json(handler, 400, {"error": "invalid_grant", "error_description": "PKCE"})
        now = int(time.time())
        claims = {**self.claims, "iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300}
        if "nonce" in request:
            claims["nonce"] = request["nonce"]
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        return self._json(
            handler,
            200,
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
        )

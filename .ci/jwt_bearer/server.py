"""An OAuth2 authorization server for the JWT bearer grant (RFC 7523), built
on Authlib, for tests/auth_jwt_bearer.rs. Started by
.ci/setup-jwt-bearer.sh.

Authlib's `JWTBearerGrant` does the grant: it reads `assertion`, finds the
client by `iss`, verifies the signature with that client's key (through
joserfc: the key's `alg` must be the JWT's, and a key set is searched by
`kid`), validates the claims (`iss aud exp` by Authlib's defaults, plus
`sub iat jti` required here through `CLAIMS_OPTIONS`; `exp nbf iat` with
60 s of leeway; `aud` must be the token URL), then checks `sub` with
`authenticate_user` and `has_granted_permission`. Authlib's
`ResourceProtector` with a `BearerTokenValidator` guards `/resource`.
This file is glue only: the clients and their keys, the users, an
in-memory token store, a `jti` replay set and counters.

Clients (the JWT's `iss`):
  rbk-jwt-hs     HS256, the shared secret HS_SECRET; tokens live 1 h
  rbk-jwt-rs     RS256, the public half of JWT_BEARER_KEY
  rbk-jwt-ps     PS256, the same key, found by `kid` = the SHA-1
                 thumbprint (upper-case hex) of JWT_BEARER_CERT among two
  rbk-jwt-short  HS256 like rbk-jwt-hs, but tokens live 40 s
A client may act for itself (`sub` = its id), for `rbk-user`, or for
`rbk-user/TAG` (a test uses its own TAG to have counters of its own).
Scopes: `api:read`, `api:write`.

Environment:
  PORT             where to listen on 127.0.0.1 (default 18810)
  JWT_BEARER_KEY   the RSA private key (PEM); only its public half is kept
  JWT_BEARER_CERT  a certificate for that key

Endpoints:
  POST /token      the token endpoint (the JWT bearer grant only)
  GET  /resource   200 {"active", "client_id", "sub", "scope"} for a valid
                   token, Authlib's 401 otherwise. `?name=N` counts the
                   call under N; `?reject_first=N` revokes the token of
                   the first call for N, which Authlib then refuses (401);
                   `?echo=1` adds the token itself to the answer ("token")
  GET  /stats      counters: tokens issued and requests refused per issuer
                   and per subject, resource calls

Once listening it prints one JSON line on stdout: {"ready": true, ...}.
"""

import json
import logging
import os
import sys
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from flask import Flask, jsonify, request
from joserfc import jws
from joserfc.jwk import KeySet, OctKey, RSAKey
from werkzeug.serving import make_server

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import ClientMixin, InvalidGrantError, TokenMixin
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7523 import JWTBearerGrant

PORT = int(os.environ.get("PORT", "18810"))
URL = f"http://127.0.0.1:{PORT}"
TOKEN_URL = f"{URL}/token"
KEY_PATH = os.environ["JWT_BEARER_KEY"]
CERT_PATH = os.environ["JWT_BEARER_CERT"]
HS_SECRET = "jwt-bearer-hs-secret-Planted-4c1d9e7a0b2f"
# The users a client may act for: rbk-user, and rbk-user/TAG (each test
# uses its own TAG so that its counters are its own).
USER = "rbk-user"
SCOPES = ["api:read", "api:write"]

# joserfc (which Authlib uses to verify the assertion) accepts only its
# "recommended" algorithms when none are given: HS256, RS256 and ES256 but
# not PS256. This server accepts exactly the three that rbk signs; each
# client's key is further bound to one algorithm below.
jws.default_registry.allowed = ["HS256", "RS256", "PS256"]

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _public_pem():
    with open(KEY_PATH, "rb") as f:
        private = serialization.load_pem_private_key(f.read(), password=None)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _thumbprint():
    with open(CERT_PATH, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return cert.fingerprint(hashes.SHA1()).hex().upper()


class Client(ClientMixin):
    def __init__(self, client_id, key, expires_in):
        self.client_id = client_id
        self.key = key
        self.expires_in = expires_in

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return False

    def check_endpoint_auth_method(self, method, endpoint):
        return False

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == JWTBearerGrant.GRANT_TYPE


PUBLIC = _public_pem()
THUMBPRINT = _thumbprint()
CLIENTS = {
    c.client_id: c
    for c in [
        Client("rbk-jwt-hs", OctKey.import_key(HS_SECRET, {"alg": "HS256", "use": "sig"}), 3600),
        Client("rbk-jwt-rs", RSAKey.import_key(PUBLIC, {"alg": "RS256", "use": "sig"}), 3600),
        # Found by `kid` = the certificate's thumbprint, as Entra ID does,
        # among two keys (a JWT without `kid` matches neither).
        Client(
            "rbk-jwt-ps",
            KeySet(
                [
                    RSAKey.import_key(PUBLIC, {"alg": "PS256", "use": "sig", "kid": THUMBPRINT}),
                    RSAKey.generate_key(2048, {"alg": "PS256", "use": "sig", "kid": "rbk-jwt-ps-retired"}),
                ]
            ),
            3600,
        ),
        # Tokens that live 40 s, to see rbk renew them 30 s ahead.
        Client("rbk-jwt-short", OctKey.import_key(HS_SECRET, {"alg": "HS256", "use": "sig"}), 40),
    ]
}


class User:
    def __init__(self, sub):
        self.sub = sub

    def get_user_id(self):
        return self.sub


class Token(TokenMixin):
    def __init__(self, value, client_id, sub, scope, expires_in):
        self.value = value
        self.client_id = client_id
        self.sub = sub
        self.scope = scope
        self.issued_at = time.time()
        self.expires_in = expires_in
        self.revoked = False

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.revoked


LOCK = threading.Lock()
TOKENS = {}
SEEN_JTI = set()
REJECTED = set()
STATS = {
    "grants": {},  # tokens issued, per issuer (client)
    "grants_by_sub": {},  # ... per subject
    "refused": {},  # refused token requests, per issuer: {error: count}
    "refused_by_sub": {},  # ... per subject
    "resource": {},  # /resource calls per ?name=
    "resource_calls": 0,
    "resource_ok": {},  # /resource calls let through, per client
}


def _is_user(subject):
    return subject == USER or subject.startswith(USER + "/")


def _count(table, key):
    STATS[table][key] = STATS[table].get(key, 0) + 1


class Grant(JWTBearerGrant):
    CLAIMS_OPTIONS = {
        "iss": {"essential": True},
        "sub": {"essential": True},
        "aud": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "jti": {"essential": True},
    }

    def get_audiences(self):
        return [TOKEN_URL]

    def resolve_issuer_client(self, issuer):
        return CLIENTS.get(issuer)

    def resolve_client_public_key(self, client):
        return client.key

    def authenticate_user(self, subject):
        if _is_user(subject) or subject in CLIENTS:
            return User(subject)
        return None

    def has_granted_permission(self, client, user):
        # A client acts for itself or for the users.
        return _is_user(user.sub) or user.sub == client.client_id

    def verify_claims(self, claims):
        super().verify_claims(claims)
        with LOCK:
            if claims["jti"] in SEEN_JTI:
                raise InvalidGrantError(description="this assertion's 'jti' was already used")
            SEEN_JTI.add(claims["jti"])


def save_token(token, req):
    sub = req.user.sub if req.user else None
    with LOCK:
        TOKENS[token["access_token"]] = Token(
            token["access_token"],
            req.client.client_id,
            sub,
            token.get("scope", ""),
            token["expires_in"],
        )
        _count("grants", req.client.client_id)
        _count("grants_by_sub", sub or "?")


app = Flask(__name__)
app.config["OAUTH2_SCOPES_SUPPORTED"] = SCOPES
server = AuthorizationServer(app, query_client=CLIENTS.get, save_token=save_token)
server.register_token_generator(
    JWTBearerGrant.GRANT_TYPE,
    BearerTokenGenerator(
        lambda **_: generate_token(42),
        None,
        lambda client, grant_type: client.expires_in,
    ),
)
server.register_grant(Grant)


class Validator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        with LOCK:
            return TOKENS.get(token_string)


require_oauth = ResourceProtector()
require_oauth.register_token_validator(Validator())


def _unverified_claims(assertion):
    """For the refusal counters only: the claims of an assertion that
    Authlib refused (so not to be trusted)."""
    try:
        claims = json.loads(jws.extract_compact(assertion.encode()).payload)
        return claims if isinstance(claims, dict) else {}
    except Exception:  # noqa: BLE001 - anything unreadable counts as "?"
        return {}


@app.post("/token")
def token():
    resp = server.create_token_response()
    if resp.status_code != 200:
        try:
            error = json.loads(resp.get_data())["error"]
        except Exception:  # noqa: BLE001
            error = "?"
        claims = _unverified_claims(request.form.get("assertion", ""))
        with LOCK:
            for table, claim in (("refused", "iss"), ("refused_by_sub", "sub")):
                counts = STATS[table].setdefault(str(claims.get(claim, "?")), {})
                counts[error] = counts.get(error, 0) + 1
    return resp


@app.get("/resource")
def resource():
    name = request.args.get("name")
    reject = request.args.get("reject_first")
    header = request.headers.get("Authorization", "")
    with LOCK:
        STATS["resource_calls"] += 1
        if name:
            _count("resource", name)
        if reject and reject not in REJECTED:
            # As if the token had been revoked: Authlib's validator refuses
            # it now and later, so only a new token gets through.
            REJECTED.add(reject)
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer" and value in TOKENS:
                TOKENS[value].revoked = True
    return protected()


@require_oauth()  # Authlib's 401 unless the bearer token is valid
def protected():
    tok = current_token
    with LOCK:
        _count("resource_ok", tok.client_id)
    body = {"active": True, "client_id": tok.client_id, "sub": tok.sub, "scope": tok.scope}
    if request.args.get("echo"):
        # A careless server that repeats the token: rbk must mask it.
        body["token"] = tok.value
    return jsonify(body)


@app.get("/stats")
def stats():
    with LOCK:
        return jsonify(STATS)


def main():
    httpd = make_server("127.0.0.1", PORT, app, threaded=True)
    print(
        json.dumps(
            {
                "ready": True,
                "url": URL,
                "token_url": TOKEN_URL,
                "rsa_key": KEY_PATH,
                "cert": CERT_PATH,
                "kid": THUMBPRINT,
                "clients": sorted(CLIENTS),
            },
            separators=(",", ":"),
        ),
        flush=True,
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

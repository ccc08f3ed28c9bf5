"""Schemathesis hooks for scripts/api-contract.sh.

Always: a SET (`application/secevent+jwt`) is sent as the text it is, and
a valid case that carries a `DPoP` header carries a genuine proof (RFC
9449, EdDSA, for that method and URL): a proof is a signature over the
request, which no schema can describe, so a generated one could only ever
be refused. Invalid cases keep whatever was generated.
With TOLLGATE_API_EMAIL set (the authenticated run), every case gets an
access token from a login of its own, so a generated logout or session
deletion never leaves the cases after it without a live token: each Bearer
route is exercised with a token the issuer accepts. The account is made by
the script with `user add --admin`.
"""

import base64
import json
import os
import time
import uuid

import requests
import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

schemathesis.serializer.alias("application/secevent+jwt", "text/plain")

DEVICE_KEY = Ed25519PrivateKey.generate()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def dpop_proof(method: str, url: str) -> str:
    """A fresh DPoP proof of DEVICE_KEY for `method` on `url`."""
    x = DEVICE_KEY.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(x)}}
    claims = {"htm": method, "htu": url, "iat": int(time.time()), "jti": str(uuid.uuid4())}
    signing_input = ".".join(b64(json.dumps(part).encode()) for part in (header, claims))
    return f"{signing_input}.{b64(DEVICE_KEY.sign(signing_input.encode()))}"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if not case.headers or case.meta is None or not case.meta.generation.mode.is_positive:
        return
    for name in list(case.headers):
        if name.lower() == "dpop":
            url = case.operation.base_url.rstrip("/") + case.formatted_path
            case.headers[name] = dpop_proof(case.method.upper(), url)

if os.environ.get("TOLLGATE_API_EMAIL"):
    BASE_URL = os.environ["TOLLGATE_API_URL"]
    EMAIL = os.environ["TOLLGATE_API_EMAIL"]
    PASSWORD = os.environ["TOLLGATE_API_PASSWORD"]

    @schemathesis.auth(refresh_interval=None)
    class FreshLogin:
        """A new device session per case."""

        def get(self, case, context):
            response = requests.post(
                f"{BASE_URL}/v1/auth/login",
                json={
                    "email": EMAIL,
                    "password": PASSWORD,
                    "device": {"id": uuid.uuid4().hex, "type": "api-contract"},
                },
                timeout=10,
            )
            response.raise_for_status()
            return response.json()["access_token"]

        def set(self, case, data, context):
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"

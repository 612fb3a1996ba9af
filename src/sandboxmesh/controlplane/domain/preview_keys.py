"""The keys that sign preview tokens (docs/preview-urls.md, "Authenticated previews").

One EC P-256 key pair (ES256) per installation signs; the public halves of every key still
published form the JWKS the gateways verify against. A key is identified by its RFC 7638
thumbprint (`kid`), so the same key always gets the same id, whoever computes it.

The private half is kept as an unencrypted PKCS#8 PEM: the store holds it as it holds every
organisation's data (the SQLite file is 0600; PostgreSQL's access control guards the rest).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandboxmesh.spec import preview

#: The JWK curve name of the signing keys (ES256 is ECDSA over P-256 with SHA-256).
CURVE = "P-256"
_COORDINATE_BYTES = 32


@dataclass(frozen=True)
class SigningKey:
    """A key pair as stored: its id, the private half (PEM) and the public half (JWK)."""

    kid: str
    private_pem: str
    public_jwk: dict[str, Any]
    created_at: datetime

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"preview signing key {self.kid} is not an EC key")
        return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The public key as a JWK (RFC 7517/7518) with its thumbprint as `kid`."""
    numbers = key.public_numbers()
    members = {
        "crv": CURVE,
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
        "y": _b64url(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
    }
    # RFC 7638: the required members only, in lexicographic order, without blanks.
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64url(hashlib.sha256(canonical).digest())
    return {"kid": kid, **members, "alg": preview.SIGNING_ALGORITHM, "use": "sig"}


def new_signing_key(now: datetime) -> SigningKey:
    """A fresh P-256 key pair."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    jwk = public_jwk(private.public_key())
    return SigningKey(kid=jwk["kid"], private_pem=pem, public_jwk=jwk, created_at=now)


def jwks(keys: list[SigningKey]) -> dict[str, Any]:
    """The JSON Web Key Set of `keys`' public halves, in the order given (signing key first)."""
    return {"keys": [dict(key.public_jwk) for key in keys]}

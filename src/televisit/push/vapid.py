"""The server's VAPID key (RFC 8292): it signs every push so push services know who sends."""
from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from py_vapid import Vapid02  # type: ignore[import-untyped]  # no type information shipped

from televisit.core.config import Settings

# The order of P-256: a private key is an integer in [1, n - 1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# RFC 8292 allows at most 24 hours; 12 leaves room for clock skew.
TOKEN_LIFETIME = timedelta(hours=12)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_private_key() -> str:
    """A new key in the form TELEVISIT_PUSH_VAPID_PRIVATE_KEY takes (`televisit push-keys`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def key_from_text(text: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64url_decode(text), "big"), ec.SECP256R1())


def private_key(settings: Settings) -> ec.EllipticCurvePrivateKey | None:
    """The configured key; in development without one, a key derived from the secret key (stable
    across restarts and the same on every instance, so subscriptions keep working)."""
    if settings.push_vapid_private_key is not None:
        return key_from_text(settings.push_vapid_private_key.get_secret_value())
    if settings.env == "development":
        seed = HKDF(algorithm=hashes.SHA256(), length=48, salt=None,
                    info=b"televisit vapid key").derive(settings.secret_key.get_secret_value().encode())
        value = int.from_bytes(seed, "big") % (P256_ORDER - 1) + 1
    else:
        return None
    return ec.derive_private_key(value, ec.SECP256R1())


def public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The `applicationServerKey` browsers subscribe with: the uncompressed point, base64url."""
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


def authorization(key: ec.EllipticCurvePrivateKey, *, endpoint: str, contact: str) -> str:
    """`Authorization: vapid t=<JWT>, k=<public key>` for one push service (the JWT's `aud`).

    The expiry is read from the wall clock, not the runtime's: the push service checks it against
    its own."""
    parts = urlsplit(endpoint)
    claims = {"aud": f"{parts.scheme}://{parts.netloc}", "sub": contact,
              "exp": int((datetime.now(UTC) + TOKEN_LIFETIME).timestamp())}
    headers: dict[str, str] = Vapid02(key).sign(claims)
    return headers["Authorization"]

"""Tokens and passwords.

JWTs are HS256 only: the algorithm is pinned on decode, so ``alg: none`` or any other
algorithm is refused. Keys are derived from ``ANB_JWT_SECRET`` per purpose (HMAC with a
label), so the token key and the media-URL key never coincide.

Passwords are hashed with argon2id at OWASP's minimum parameters (19 MiB, 2 passes, one
lane). Hashing is slow by design: callers run it in the threadpool, outside any database
transaction.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import secrets
import time
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

JWT_ALGORITHM = "HS256"
#: Seconds a token's ``iat``/``nbf`` may lie in the future, and its ``exp`` in the past:
#: instances behind the load balancer keep NTP time, but a sibling's clock may run ahead by
#: a few seconds. RFC 7519 (sections 4.1.4-4.1.5) allows "some small leeway".
JWT_CLOCK_LEEWAY_S = 60

PASSWORD_HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed or expired."""


def derive_key(secret: str, *, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


@dataclasses.dataclass(frozen=True)
class TokenClaims:
    user_id: str
    #: The token's own id (``jti``): what logging out revokes.
    token_id: str
    #: Epoch seconds; a revocation need not be kept after it.
    expires_at_s: int


class TokenCodec:
    def __init__(self, *, secret: str, ttl_s: int) -> None:
        self.key = OctKey.import_key(derive_key(secret, purpose="anb-jwt-v1"))
        self.ttl_s = ttl_s
        self.registry = jwt.JWTClaimsRegistry(
            leeway=JWT_CLOCK_LEEWAY_S,
            exp={"essential": True}, sub={"essential": True}, jti={"essential": True})

    def issue(self, *, user_id: str) -> str:
        now_s = int(time.time())
        claims = {"sub": user_id, "jti": secrets.token_hex(16), "iat": now_s,
                  "exp": now_s + self.ttl_s}
        return jwt.encode({"alg": JWT_ALGORITHM}, claims, self.key, algorithms=[JWT_ALGORITHM])

    def claims(self, token: str) -> TokenClaims:
        """What a valid, unexpired token says; InvalidToken for anything else.

        Signature and expiry only: whether it was revoked is the database's to say.
        """
        try:
            decoded = jwt.decode(token, self.key, algorithms=[JWT_ALGORITHM])
            self.registry.validate(decoded.claims)
            found: dict[str, Any] = decoded.claims
            # RFC 7519 4.1.4: on or after exp (plus the leeway) the token is refused; joserfc
            # before 1.8 (1.7 is the newest for Python 3.10) took one exactly at that second.
            if int(found["exp"]) <= int(time.time()) - JWT_CLOCK_LEEWAY_S:
                raise InvalidToken("the token has expired")
            return TokenClaims(user_id=str(found["sub"]), token_id=str(found["jti"]),
                               expires_at_s=int(found["exp"]))
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc)) from exc

    def user_id(self, token: str) -> str:
        return self.claims(token).user_id


def hash_password(password: str) -> str:
    return PASSWORD_HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists: a missing user checks a dummy hash."""
    try:
        return PASSWORD_HASHER.verify(password_hash or _dummy_hash(), password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return PASSWORD_HASHER.hash("not a password anyone has")

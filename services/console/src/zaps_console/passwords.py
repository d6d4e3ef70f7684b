"""Is this the admin's password? Hashes are stdlib scrypt, written as `scrypt$n$r$p$salt$hash`.

`n`, `r` and `p` are scrypt's cost parameters in decimal; `salt` and `hash` are URL-safe base64 without padding.
The parameters travel with the hash, so raising the cost later only needs a new hash, not a code change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

SCHEME = "scrypt"
# OWASP's scrypt floor is n=2^17 with r=8, p=1; n=2^15 keeps a sign-in near 0.1 s on a small droplet while an
# offline guess still costs 32 MiB of memory. Raise `n` for a new hash whenever the machine allows.
DEFAULT_N = 2**15
DEFAULT_R = 8
DEFAULT_P = 1
HASH_BYTES = 32
SALT_BYTES = 16
# A hash read from the environment decides how much work a sign-in does: bound it, so a bad value cannot make
# every sign-in eat the machine.
MAX_N = 2**20
MAX_MEMORY = 1024 * 1024 * 1024


@dataclass(frozen=True)
class PasswordHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, *, n: int, r: int, p: int, salt: bytes, length: int) -> bytes:
    memory = 128 * r * (n + p + 2)  # what scrypt needs, with room: hashlib refuses by default above 32 MiB
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=memory + 1024 * 1024, dklen=length)


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """A new hash of `password` with a random salt."""
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(SALT_BYTES)
    digest = _derive(password, n=n, r=r, p=p, salt=salt, length=HASH_BYTES)
    encoded = f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"
    parse(encoded)  # the same bounds apply to what we write as to what we read
    return encoded


def parse(encoded: str) -> PasswordHash:
    """Read a stored hash; ValueError says what is wrong with it (never echoing it)."""
    parts = encoded.strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError(
            "not a password hash of the form scrypt$n$r$p$salt$hash (make one: zaps-console hash-password)"
        )
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("the password hash has a non-numeric cost or a bad base64 salt or hash") from None
    if n < 2**10 or n > MAX_N or n & (n - 1):
        raise ValueError(f"the password hash's n must be a power of two between 1024 and {MAX_N}")
    if not 1 <= r <= 32 or not 1 <= p <= 16 or 128 * r * n * p > MAX_MEMORY:
        raise ValueError("the password hash's r or p is out of range")
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("the password hash's salt or hash is too short")
    return PasswordHash(n=n, r=r, p=p, salt=salt, digest=digest)


def verify(password: str, encoded: str) -> bool:
    """Whether `password` matches; the comparison takes the same time wherever the first difference is."""
    stored = parse(encoded)
    candidate = _derive(password, n=stored.n, r=stored.r, p=stored.p, salt=stored.salt, length=len(stored.digest))
    return hmac.compare_digest(candidate, stored.digest)

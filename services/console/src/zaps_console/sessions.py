"""Who is signed in? Signed session cookies and the CSRF tokens bound to them, with the standard library's HMAC.

A session cookie is `base64(json).base64(hmac)`: the admin's name, a random session id and the expiry, signed with
a key derived from CONSOLE_SESSION_SECRET *and* the admin's password hash, so a new password (or a new secret)
signs every open session out. The server also keeps a record of each open session (zaps_console_session, by the
SHA-256 of its id): signing out deletes it, "sign out everywhere" deletes all of the admin's, and a cookie whose
record is gone is refused however valid its signature.

A form's CSRF token is an HMAC of the session id: a page from another site cannot read it, and it changes with
every sign-in. The sign-in form, which has no session yet, pairs a random nonce in its own cookie with the HMAC of
that nonce in the form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "zaps_console_session"
LOGIN_COOKIE = "zaps_console_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_COOKIE_CHARS = 1024


@dataclass(frozen=True)
class Session:
    username: str
    session_id: str
    expires_at: float

    @property
    def record_id(self) -> str:
        """What the server stores: a stolen copy of the table cannot be turned back into a cookie."""
        return hashlib.sha256(self.session_id.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, *, secret: str, password_hash: str, ttl_s: int) -> None:
        # One key per (secret, password): changing either invalidates every cookie and token made with the old one.
        self._key = hmac.new(secret.encode(), b"zaps-console\x00" + password_hash.encode(), hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def _mac(self, purpose: str, value: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest())

    def issue(self, username: str, *, now: float | None = None) -> tuple[str, Session]:
        """A new session for `username`: the cookie value, and the session it stands for."""
        session = Session(
            username=username, session_id=secrets.token_urlsafe(18), expires_at=(now or time.time()) + self.ttl_s
        )
        body = _b64(json.dumps({"u": session.username, "s": session.session_id, "e": session.expires_at}).encode())
        return f"{body}.{self._mac('session', body)}", session

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session a cookie stands for; None if it is missing, forged, damaged or expired."""
        if not cookie or len(cookie) > MAX_COOKIE_CHARS or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            fields = json.loads(_unb64(body))
            session = Session(username=str(fields["u"]), session_id=str(fields["s"]), expires_at=float(fields["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires_at <= (now or time.time()):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.session_id)

    def csrf_matches(self, session: Session, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(str(offered), self.csrf_token(session))

    def login_nonce(self) -> str:
        return secrets.token_urlsafe(18)

    def login_token(self, nonce: str) -> str:
        return self._mac("login", nonce)

    def login_token_matches(self, nonce: str | None, offered: str | None) -> bool:
        if not nonce or not offered or len(nonce) > 64:
            return False
        return hmac.compare_digest(str(offered), self.login_token(nonce))

    def throttle_key(self, kind: str, value: str) -> str:
        """An opaque Redis key part for an IP or a username: Redis never holds either in clear."""
        return self._mac(f"throttle-{kind}", value.strip().lower())[:32]

"""Console sign-in: the server's access key pair, a signed session cookie, and CSRF tokens.

The console has no users of its own: whoever holds a key pair boto3 may use may use the console.
The secret is checked in constant time against every configured pair (as SigV4 checks a key), and
the session cookie is signed with a key derived from that pair's secret, so a cookie signed under
another secret, or older than ``SESSION_SECONDS``, is refused. The cookie is HttpOnly and
SameSite=Strict; every form also carries a CSRF token bound to the session (or, before sign-in, to a
short-lived cookie of its own), checked on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "op_console"
LOGIN_COOKIE = "op_console_login"
SESSION_SECONDS = 8 * 3600
LOGIN_SECONDS = 3600
COOKIE_PATH = "/console"
_SALT = "openpersonalize-console-session"


def cookie_name(base: str, port: int | None) -> str:
    """The name of cookie ``base`` for the server the browser reached on ``port``: browsers keep cookies per host,
    not per port, so two servers on one host (``serve`` on 8080, a demo on another port) sharing one name would
    overwrite each other's sessions."""
    return f"{base}_{port}" if port else base


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the key id it signed in with and the nonce its CSRF token is bound to."""

    key_id: str
    nonce: str


def _signing_key(secret: str) -> bytes:
    """A key for console cookies only, derived from a secret access key (never the secret itself)."""
    return hmac.new(secret.encode(), b"openpersonalize console cookie key", hashlib.sha256).digest()


def session_serializer(secret: str) -> URLSafeTimedSerializer:
    """The serializer that signs and reads session cookies under ``secret``."""
    return URLSafeTimedSerializer(_signing_key(secret), salt=_SALT)


class ConsoleAuth:
    """Checks sign-ins, issues and reads session cookies, makes and checks CSRF tokens."""

    def __init__(self, credentials: Mapping[str, str], max_age: int = SESSION_SECONDS) -> None:
        self.credentials = dict(credentials)
        self.max_age = max_age
        # pre-sign-in CSRF tokens: the same in every worker process of this server
        self._login_key = hashlib.sha256(
            b"login" + b"".join(_signing_key(s) for s in sorted(credentials.values()))
        ).digest()

    def check_secret(self, key_id: str, secret: str) -> bool:
        """True when ``key_id``/``secret`` is a configured pair; every pair is compared, each in constant time."""
        ok = False
        for known_id, known_secret in self.credentials.items():
            same_id = hmac.compare_digest(known_id.encode(), key_id.encode())
            same_secret = hmac.compare_digest(known_secret.encode(), secret.encode())
            ok |= same_id and same_secret
        return ok

    def issue(self, key_id: str) -> str:
        """A session cookie value for a checked key id."""
        return session_serializer(self.credentials[key_id]).dumps({"k": key_id, "n": secrets.token_urlsafe(16)})

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, or None when it is missing, forged, signed by another secret, or expired."""
        if not cookie or len(cookie) > 512:
            return None
        for key_id, secret in self.credentials.items():
            try:
                data = session_serializer(secret).loads(cookie, max_age=self.max_age)
            except BadSignature:  # SignatureExpired is one
                continue
            if isinstance(data, dict) and data.get("k") == key_id and isinstance(data.get("n"), str):
                return Session(key_id, data["n"])
        return None

    def csrf_token(self, session: Session) -> str:
        """The CSRF token every form of this session carries."""
        key = _signing_key(self.credentials[session.key_id])
        return hmac.new(key, b"csrf:" + session.nonce.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), str(token))

    def login_nonce(self) -> str:
        """A random value for the sign-in form's own cookie (its CSRF token is derived from it)."""
        return secrets.token_urlsafe(16)

    def login_token(self, nonce: str) -> str:
        """The sign-in form's CSRF token for the nonce in its cookie (double submit)."""
        return hmac.new(self._login_key, nonce.encode(), hashlib.sha256).hexdigest()

    def check_login_token(self, nonce: str | None, token: str | None) -> bool:
        return bool(nonce) and bool(token) and hmac.compare_digest(self.login_token(str(nonce)), str(token))

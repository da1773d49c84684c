"""Secret values: one process-wide registry and the redaction applied to every outward text.

Settings register each configured secret here when they load. `redact` masks every registered
value (and a few well-known secret shapes) wherever it appears in a string; the logging filter,
the error hierarchy and `config show` all use it, so a secret never reaches a log line, an error
message or a notebook output.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from pydantic import SecretStr

MASK = "***"
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary words; settings reject them anyway

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None

# Shapes that are secrets whoever configured them: PEM private keys and bearer tokens.
_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{16,}",
    re.DOTALL,
)


# A URL in free text: scheme:// up to whitespace, a quote or an angle bracket.
_URL_TOKEN = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s\"'<>]+", re.IGNORECASE)
# Query parameters whose value is a credential (?token=..., &api_key=..., &signature=...).
_SECRET_PARAM = re.compile(
    r"(?P<name>[^?&#=]*(?:token|key|secret|passw|pwd|signature|sig|auth|credential)[^&#=]*=)"
    r"(?P<value>[^&#]*)",
    re.IGNORECASE,
)
# Schemes whose user name alone is an account name, not a credential (postgresql://nzeza@h/db).
_ACCOUNT_SCHEMES = ("postgres", "mysql", "mariadb", "mongodb", "redis", "amqp", "sqlite")


def register_secret(value: str | SecretStr | None) -> None:
    """Add a secret value to the registry (no-op for None or very short values)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    global _secrets, _pattern
    with _lock:
        # A multi-line secret (a PEM key) is also masked line by line, as logs may split it.
        parts = {value} | {line.strip() for line in value.splitlines() if len(line.strip()) >= 8}
        new = _secrets | parts
        if new != _secrets:
            _secrets = frozenset(new)
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_secrets(values: Iterable[str | SecretStr | None]) -> None:
    for v in values:
        register_secret(v)


def clear_secrets() -> None:
    """Forget every registered secret (tests use this between cases)."""
    global _secrets, _pattern
    with _lock:
        _secrets = frozenset()
        _pattern = None


def redact(text: str) -> str:
    """Return `text` with every registered secret and secret-shaped token masked."""
    if not isinstance(text, str):
        text = str(text)
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _URL_TOKEN.sub(lambda m: mask_url(m.group(0)), text)
    return _SHAPES.sub(MASK, text)


def mask_url(url: str) -> str:
    """`url` with its credentials masked: the password of its user info, a user name that is
    itself a token (`https://TOKEN@host`), and secret-looking query values.

    The user info is taken up to the *last* `@` before the query, so a password holding an
    unescaped `@` or `/` is masked whole; scheme, user name, host, path and ordinary query
    parameters stay readable.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    head, tail = rest[:cut], rest[cut:]
    at = head.rfind("@")
    if at >= 0:
        user, colon, _ = head[:at].partition(":")
        # a password is always masked; a lone user name only where it may be a token
        account = scheme.lower().startswith(_ACCOUNT_SCHEMES)
        userinfo = f"{user}:{MASK}" if colon else (user if account else MASK)
        head = f"{userinfo}@{head[at + 1 :]}"
    if tail.startswith("?"):
        tail = _SECRET_PARAM.sub(lambda m: f"{m.group('name')}{MASK}", tail)
    return f"{scheme}://{head}{tail}"


def mask(value: str | SecretStr | None) -> str:
    """How a secret is shown to a person: absent, or masked with its length hidden."""
    if value is None:
        return "(not set)"
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    return "(set, masked)" if raw else "(empty)"


__all__ = [
    "MASK",
    "clear_secrets",
    "mask",
    "mask_url",
    "redact",
    "register_secret",
    "register_secrets",
]

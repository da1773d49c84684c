"""Operations: settings, secrets and redaction, structured logging, metrics, health."""

from nzeza.ops.logging import bind, configure_logging, get_logger
from nzeza.ops.settings import Mode, Profile, Settings, load_settings
from nzeza.secrets import redact, register_secret

__all__ = [
    "Mode",
    "Profile",
    "Settings",
    "bind",
    "configure_logging",
    "get_logger",
    "load_settings",
    "redact",
    "register_secret",
]

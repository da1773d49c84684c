"""Settings: environment (`NZEZA_` prefix) and `.env`, validated on load.

    NZEZA_PROFILE=dev|staging|production      NZEZA_MODE=replay|paper|live (default paper)
    NZEZA_DATA_DIR, NZEZA_RUNS_DIR, NZEZA_LEDGER_URL, NZEZA_LOG_LEVEL, NZEZA_METRICS_PORT
    NZEZA_LIVE_VENUE=binance|coinbase|kraken|hyperliquid|dydx
    NZEZA_LIVE_CONFIRM=I_UNDERSTAND_THIS_TRADES_REAL_MONEY (or `nzeza live --confirm ...`)
    NZEZA_OPEN_ORDERS_ON_STOP=cancel|keep      NZEZA_CA_FILE (extra trusted CA bundle, PEM)
    NZEZA_AUDIT_KEY (the ledger audit chain's HMAC key; default: a generated key file)
    NZEZA_AUDIT_DIR (its key file and chain anchors; default: ~/.config/nzeza)
    NZEZA_<VENUE>__API_KEY / __API_SECRET / __PASSPHRASE / __PRIVATE_KEY / __MNEMONIC
    NZEZA_<VENUE>__REST_URL / __WS_URL / __NODE_URL / __CHAIN_ID
    NZEZA_RISK__MAX_ORDER_NOTIONAL, __MAX_POSITION_NOTIONAL, __MAX_DAILY_LOSS, ... (the risk
    limits of paper and live sessions, on by default: `nzeza.ops.risksettings`)
    NZEZA_GATES__MIN_PAPER_BARS, __MIN_PAPER_DAYS, __MAX_TRACKING_ERROR, __MAX_PBO, ... (the
    promotion gates' thresholds, loosened only above their floors: `nzeza.ops.gatesettings`)

`load_settings()` turns every problem into one `ConfigError` naming the variable and saying how
to fix it; in live mode it also checks every live gate of the configuration and raises
`LiveTradingNotAllowed` listing each one that fails. Secret values are registered with the
redactor as soon as they are read, before any message can be built.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from nzeza.errors import ConfigError, LiveTradingNotAllowed
from nzeza.ops.gatesettings import GateSettings
from nzeza.ops.risksettings import RiskSettings, describe_risk
from nzeza.secrets import mask, mask_url, register_secret

ENV_PREFIX = "NZEZA_"
LIVE_CONFIRMATION = "I_UNDERSTAND_THIS_TRADES_REAL_MONEY"


class Profile(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PRODUCTION = "production"


class Mode(StrEnum):
    REPLAY = "replay"
    PAPER = "paper"
    LIVE = "live"


class OnStop(StrEnum):
    CANCEL = "cancel"
    KEEP = "keep"


VENUES = ("binance", "coinbase", "kraken", "hyperliquid", "dydx")

# Public production endpoints; overridable per venue (tests point them at 127.0.0.1).
DEFAULT_ENDPOINTS: dict[str, dict[str, str]] = {
    "binance": {"rest_url": "https://api.binance.com", "ws_url": "wss://stream.binance.com:9443"},
    "coinbase": {
        "rest_url": "https://api.coinbase.com",
        "ws_url": "wss://advanced-trade-ws.coinbase.com",
    },
    "kraken": {"rest_url": "https://api.kraken.com", "ws_url": "wss://ws.kraken.com/v2"},
    "hyperliquid": {
        "rest_url": "https://api.hyperliquid.xyz",
        "ws_url": "wss://api.hyperliquid.xyz/ws",
    },
    "dydx": {
        "rest_url": "https://indexer.dydx.trade/v4",
        "ws_url": "wss://indexer.dydx.trade/v4/ws",
        "node_url": "https://dydx-ops-rpc.kingnodes.com",
    },
}


class VenueSettings(BaseModel):
    """Credentials and endpoints of one venue. Every credential is a `SecretStr`."""

    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    passphrase: SecretStr | None = None
    private_key: SecretStr | None = None
    mnemonic: SecretStr | None = None
    rest_url: str | None = None
    ws_url: str | None = None
    node_url: str | None = None
    chain_id: str | None = None

    @field_validator("api_key", "api_secret", "passphrase", "private_key", "mnemonic")
    @classmethod
    def _register(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            register_secret(v)
            if not v.get_secret_value().strip():
                return None
        return v

    def endpoint(self, venue: str, kind: str) -> str | None:
        value = getattr(self, kind)
        return value or DEFAULT_ENDPOINTS.get(venue, {}).get(kind)


class AuditSettings(BaseSettings):
    """The ledger audit chain's key and files. Readable on their own (`load_audit_settings`):
    a ledger opens and verifies even when an unrelated setting is invalid."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # the HMAC key of the ledger's audit chain (at least 32 characters); unset: generated on
    # first use into <audit_dir>/audit.key (mode 0600). A shared ledger needs one key on every
    # host, so set it there (nzeza.store.auditfiles)
    audit_key: SecretStr | None = None
    # the key file and the chain anchors, outside every ledger and checkout; unset: the user's
    # config directory ($XDG_CONFIG_HOME/nzeza or ~/.config/nzeza)
    audit_dir: Path | None = None

    @field_validator("audit_key")
    @classmethod
    def _audit_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            register_secret(v)
            if not v.get_secret_value().strip():
                return None
            if len(v.get_secret_value()) < 32:
                raise ValueError("must be at least 32 characters (e.g. 64 hex digits)")
        return v

    @property
    def effective_audit_dir(self) -> Path:
        return self.audit_dir or default_audit_dir()


class Settings(AuditSettings):
    """The effective configuration of one nzeza process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    profile: Profile = Profile.DEV
    mode: Mode = Mode.PAPER
    data_dir: Path = Path("nzeza-cache")
    runs_dir: Path = Path("runs")
    ledger_url: str | None = None  # default: sqlite file under runs_dir
    log_level: str = "INFO"
    log_json: bool = False
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    live_venue: str | None = None
    live_confirm: str | None = None
    # a session's open orders when it stops gracefully (SIGTERM, SIGINT, kill switch)
    open_orders_on_stop: OnStop = OnStop.CANCEL
    # PEM bundle of certificate authorities to trust for https/wss venue endpoints (a TLS
    # proxy's own CA, for example); default: the system's and certifi's
    ca_file: Path | None = None

    binance: VenueSettings = VenueSettings()
    coinbase: VenueSettings = VenueSettings()
    kraken: VenueSettings = VenueSettings()
    hyperliquid: VenueSettings = VenueSettings()
    dydx: VenueSettings = VenueSettings()

    # pre-trade limits, stops and live sizing of every paper and live session (on by default)
    risk: RiskSettings = RiskSettings()
    # thresholds of the promotion gates, loosened only above their floors (ops.gatesettings)
    gates: GateSettings = GateSettings()

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        level = v.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, v: Path | None) -> Path | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(f"no such file: {v}")
        if v is not None:
            import ssl

            try:
                ssl.create_default_context().load_verify_locations(cafile=str(v))
            except (ssl.SSLError, UnicodeDecodeError, ValueError, OSError) as exc:
                raise ValueError(
                    f"{v} is not a PEM bundle of CA certificates ({exc.__class__.__name__})"
                ) from None
        return v

    @field_validator("live_venue")
    @classmethod
    def _venue(cls, v: str | None) -> str | None:
        if v is not None and v.lower() not in VENUES:
            raise ValueError(f"must be one of {', '.join(VENUES)}")
        return v.lower() if v else v

    @property
    def effective_ledger_url(self) -> str:
        return self.ledger_url or f"sqlite:///{(self.runs_dir / 'ledger.sqlite').as_posix()}"

    def venue(self, name: str) -> VenueSettings:
        if name not in VENUES:
            raise ConfigError(f"{ENV_PREFIX}LIVE_VENUE", f"unknown venue {name!r}")
        return getattr(self, name)

    def secret_values(self) -> list[SecretStr]:
        out = [self.audit_key] if self.audit_key is not None else []
        for name in VENUES:
            v = getattr(self, name)
            for field in ("api_key", "api_secret", "passphrase", "private_key", "mnemonic"):
                if getattr(v, field) is not None:
                    out.append(getattr(v, field))
        return out

    def live_problems(self) -> list[str]:
        """Every reason this configuration may not trade live (empty when it may)."""
        problems: list[str] = []
        if self.live_confirm != LIVE_CONFIRMATION:
            problems.append(
                f"{ENV_PREFIX}LIVE_CONFIRM must be set to {LIVE_CONFIRMATION} to trade live"
            )
        if self.live_venue is None:
            problems.append(f"{ENV_PREFIX}LIVE_VENUE is not set (one of {', '.join(VENUES)})")
            return problems
        venue = self.live_venue
        cfg = self.venue(venue)
        var = f"{ENV_PREFIX}{venue.upper()}__"
        for kind, scheme in (("rest_url", "https"), ("ws_url", "wss"), ("node_url", "https")):
            url = cfg.endpoint(venue, kind)
            if url is None:
                continue
            if urlparse(url).scheme != scheme:
                problems.append(
                    f"{var}{kind.upper()} must be a {scheme}:// endpoint in live mode, "
                    f"got {urlparse(url).scheme or '(no scheme)'}://"
                )
        problems.extend(credential_problems(venue, cfg))
        return problems


def default_audit_dir() -> Path:
    """The user's config directory for nzeza: outside any checkout, `runs/` and ledger."""
    if os.name == "nt":  # pragma: no cover - windows
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nzeza"


_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_BINANCE_KEY = re.compile(r"^[A-Za-z0-9]{64}$")
_COINBASE_KEY = re.compile(r"^organizations/[^/\s]+/apiKeys/[^/\s]+$")


def _b64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def credential_problems(venue: str, cfg: VenueSettings) -> list[str]:
    """Whether the credentials a live session needs on `venue` are present and well-formed.

    Messages name the variable and the expected shape, never the value.
    """
    var = f"{ENV_PREFIX}{venue.upper()}__"
    problems: list[str] = []

    def need(field: str, check: Any, shape: str) -> None:
        secret = getattr(cfg, field)
        if secret is None:
            problems.append(f"{var}{field.upper()} is missing")
        elif not check(secret.get_secret_value().strip()):
            problems.append(f"{var}{field.upper()} is malformed: expected {shape}")

    if venue == "binance":
        need("api_key", _BINANCE_KEY.match, "64 letters and digits")
        need("api_secret", _BINANCE_KEY.match, "64 letters and digits")
    elif venue == "coinbase":
        need("api_key", _COINBASE_KEY.match, "organizations/{org_id}/apiKeys/{key_id}")
        need(
            "api_secret",
            lambda s: "BEGIN EC PRIVATE KEY" in s and "END EC PRIVATE KEY" in s,
            "a PEM EC private key (-----BEGIN EC PRIVATE KEY-----)",
        )
    elif venue == "kraken":
        need("api_key", lambda s: len(s) >= 40 and " " not in s, "the 56-character API key")
        need("api_secret", lambda s: len(s) >= 40 and _b64(s), "a base64 private key")
    elif venue == "hyperliquid":
        need("private_key", _HEX64.match, "0x followed by 64 hex digits")
    elif venue == "dydx":
        need(
            "mnemonic",
            lambda s: len(s.split()) in (12, 15, 18, 21, 24) and s.replace(" ", "").isalpha(),
            "a BIP39 mnemonic of 12 or 24 lowercase words",
        )
        if not cfg.chain_id:
            problems.append(f"{var}CHAIN_ID is missing (dydx-mainnet-1 for mainnet)")
    return problems


def _variable_for(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc if not isinstance(p, int))


def _fix_for(variable: str, msg: str) -> str:
    if variable.endswith("MODE"):
        return "set it to replay, paper or live"
    if variable.endswith("PROFILE"):
        return "set it to dev, staging or production"
    if variable.endswith("OPEN_ORDERS_ON_STOP"):
        return "set it to cancel or keep"
    if variable.endswith("CA_FILE"):
        return "point it at a PEM file of CA certificates, or unset it"
    if variable.endswith("ON_BREACH"):
        return "set it to twap, amend or reject"
    if variable.startswith(f"{ENV_PREFIX}RISK__"):
        return "correct it, or unset it for the default"
    if variable.endswith("AUDIT_KEY"):
        return "set a random key of 64 hex digits, or unset it to use the generated key file"
    return "correct or unset it"


def _construct(cls: type, **overrides: Any) -> Any:
    """`cls(**overrides)`, with what pydantic-settings raises before validation (a variable
    that is not JSON, a `.env` that is not UTF-8) turned into a `ConfigError` naming it."""
    from pydantic_settings import SettingsError

    try:
        return cls(**overrides)
    except SettingsError as exc:
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"{ENV_PREFIX}{found.group(1).upper()}" if found else "settings"
        raise ConfigError(
            name,
            "is not valid JSON",
            f'give a JSON object, e.g. {name}=\'{{"api_key": "..."}}\', or set one field '
            f"per variable ({name}__API_KEY=...)",
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(Path(".env").resolve()),
            f"is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"position {exc.start})",
            "save it as UTF-8",
        ) from None


def load_audit_settings() -> AuditSettings:
    """Only the audit chain's settings (`ConfigError` naming the variable if one is invalid)."""
    try:
        return _construct(AuditSettings)
    except PydanticValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        variable = _variable_for(first["loc"])
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(variable, reason, _fix_for(variable, reason)) from None


def load_settings(require_live: bool | None = None, **overrides: Any) -> Settings:
    """Read and validate settings from the environment and `.env`.

    Raises `ConfigError` for an invalid value (naming the variable) and, when the mode is live
    (or `require_live`), `LiveTradingNotAllowed` listing every live gate that fails.
    """
    try:
        settings = _construct(Settings, **overrides)
    except PydanticValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        variable = _variable_for(first["loc"])
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(variable, reason, _fix_for(variable, reason)) from None
    for secret in settings.secret_values():
        register_secret(secret)
    if require_live or (require_live is None and settings.mode is Mode.LIVE):
        problems = settings.live_problems()
        if problems:
            raise LiveTradingNotAllowed(problems)
    return settings


def describe(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain values, with every secret masked (for `config show`)."""
    out: dict[str, Any] = {}
    for name, value in settings:
        if isinstance(value, VenueSettings):
            entry: dict[str, Any] = {}
            for field, v in value:
                if isinstance(v, SecretStr) or field in {
                    "api_key",
                    "api_secret",
                    "passphrase",
                    "private_key",
                    "mnemonic",
                }:
                    entry[field] = mask(v)
                elif field in {"rest_url", "ws_url", "node_url"}:
                    url = value.endpoint(name, field)
                    entry[field] = mask_url(url) if url else url
                else:
                    entry[field] = v
            out[name] = entry
        elif isinstance(value, RiskSettings):
            out[name] = describe_risk(value)
        elif isinstance(value, GateSettings):
            out[name] = value.model_dump()
        elif isinstance(value, SecretStr) or name == "audit_key":
            out[name] = mask(value)
        elif name == "live_confirm":
            out[name] = (
                "(set)"
                if value == LIVE_CONFIRMATION
                else ("(not set)" if not value else "(wrong value)")
            )
        else:
            out[name] = str(value) if isinstance(value, Path | StrEnum) else value
    out["ledger_url"] = mask_url(settings.effective_ledger_url)
    out["audit_dir"] = str(settings.effective_audit_dir)
    return out


__all__ = [
    "DEFAULT_ENDPOINTS",
    "ENV_PREFIX",
    "LIVE_CONFIRMATION",
    "VENUES",
    "AuditSettings",
    "Mode",
    "OnStop",
    "Profile",
    "Settings",
    "VenueSettings",
    "credential_problems",
    "default_audit_dir",
    "describe",
    "load_audit_settings",
    "load_settings",
]

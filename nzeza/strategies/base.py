"""The strategy contract: parameters in, one vectorized `target(bars)` out.

    class SmaCross(Strategy):
        fast: int = 10
        slow: int = 30

        def validate(self) -> None:
            self.require(self.fast < self.slow, "fast", "must be smaller than slow")

        @property
        def warmup(self) -> int:
            return self.slow

        def target(self, bars: pd.DataFrame) -> pd.Series: ...

Parameters are class-level annotated attributes with defaults, set by keyword and checked
(type, then `validate()`); a bad one is a `ValidationError` naming it. `target` maps bars to
the desired exposure per bar in [−1, 1] (fraction of equity; negative is short), computed only
from data up to and including each bar. Research feeds it the whole history; a session feeds
it the trailing `warmup` bars at each closed bar and acts on the last row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Protocol, TypeVar, get_type_hints, runtime_checkable

import numpy as np
import pandas as pd

from nzeza.errors import ValidationError
from nzeza.strategies.snapshots import snapshot_source

_CASTS: dict[type, Any] = {int: int, float: float, bool: bool, str: str}
# an integer parameter is a window, a count, a period: beyond 2**53 it is a typo, and numpy and
# pandas (int64, C long) overflow on it
MAX_INT_PARAM = 2**53
_Exposure = TypeVar("_Exposure", pd.Series, np.ndarray)


@runtime_checkable
class TargetStrategy(Protocol):
    """What the engine and research need of a strategy: bars in, target exposure per bar out.
    `Strategy` subclasses are the usual kind; any object with this method works."""

    def target(self, bars: pd.DataFrame) -> pd.Series: ...


class Strategy:
    """Base class of every strategy. Subclasses declare parameters as annotated attributes."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # the default sweep grid a validation starts from (notebooks, pipelines, `nzeza validate`)
    search_space: ClassVar[dict[str, list[Any]]] = {}
    _param_types: ClassVar[dict[str, type]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hints = get_type_hints(cls)
        params: dict[str, type] = {}
        for klass in reversed(cls.__mro__):
            for key in getattr(klass, "__annotations__", {}):
                hint = hints.get(key)
                if (
                    key.startswith("_")
                    or hint is None
                    or getattr(hint, "__origin__", None) is ClassVar
                ):
                    continue
                if hint in _CASTS and hasattr(cls, key):
                    params[key] = hint
        cls._param_types = params
        snapshot_source(cls)  # the identity hashes the source this class was compiled from
        if "name" not in cls.__dict__ or not cls.name:  # named after itself, never its base
            cls.name = "".join(f"_{c.lower()}" if c.isupper() else c for c in cls.__name__).lstrip(
                "_"
            )

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self._param_types)
        if unknown:
            key = sorted(unknown)[0]
            raise ValidationError(
                key,
                kwargs[key],
                f"is not a parameter of {type(self).__name__} "
                f"(parameters: {', '.join(self._param_types) or 'none'})",
            )
        for key, typ in self._param_types.items():
            value = kwargs.get(key, getattr(type(self), key))
            setattr(self, key, self._cast(key, typ, value))
        self.validate()

    @staticmethod
    def _cast(key: str, typ: type, value: Any) -> Any:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            raise ValidationError(key, value, "must be true or false")
        if typ is int:
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | str):
                raise ValidationError(key, value, "must be an integer")
            try:
                as_float = float(value)
            except ValueError:
                raise ValidationError(key, value, "must be an integer") from None
            if not as_float.is_integer():
                raise ValidationError(key, value, "must be an integer")
            if abs(as_float) > MAX_INT_PARAM:
                raise ValidationError(key, value, f"is too large (at most ±{MAX_INT_PARAM:,})")
            return int(value) if isinstance(value, int | np.integer) else int(as_float)
        if typ is float:
            try:
                out = float(value)
            except (TypeError, ValueError):
                raise ValidationError(key, value, "must be a number") from None
            if not np.isfinite(out):
                raise ValidationError(key, value, "must be finite")
            return out
        return str(value)

    # -- for subclasses ---------------------------------------------------------------------
    def validate(self) -> None:
        """Check parameter relations; raise with `self.require(...)`."""

    def require(self, condition: bool, field: str, reason: str) -> None:
        if not condition:
            raise ValidationError(field, getattr(self, field, None), reason)

    @property
    def warmup(self) -> int:
        """Trailing bars the last target needs to be exact."""
        return 1

    def target(self, bars: pd.DataFrame) -> pd.Series:
        raise NotImplementedError

    # -- identity ---------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_types}

    @property
    def fingerprint(self) -> str:
        text = json.dumps({"strategy": self.name, "params": self.params}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.params == self.params

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.params.items()))))

    # -- the checked call the framework uses ------------------------------------------------
    def targets(self, bars: pd.DataFrame) -> pd.Series:
        """`target(bars)` checked: aligned to bars, finite, in [−1, 1] (NaN → 0)."""
        out = self.target(bars)
        if not isinstance(out, pd.Series) or not out.index.equals(bars.index):
            raise ValidationError(
                "target",
                type(out).__name__,
                f"{type(self).__name__}.target must return a Series on bars.index",
            )
        out = out.astype(float).fillna(0.0)
        if ((out < -1 - 1e-12) | (out > 1 + 1e-12)).any():
            bad = out[(out < -1) | (out > 1)]
            raise ValidationError(
                "target", float(bad.iloc[0]), f"must be within [-1, 1] (first at {bad.index[0]})"
            )
        return out.clip(-1.0, 1.0)


def params_hash(strategy: str, params: dict[str, Any]) -> str:
    """The identity of a strategy configuration: name + canonical JSON of its parameters."""
    text = json.dumps({"strategy": strategy, "params": dict(params)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def quantize(target: _Exposure, step: float) -> _Exposure:
    """Round exposures to `step` (0.1 → 10% steps) so small drifts do not trade every bar
    (a Series or an array, returned as the same kind)."""
    if step <= 0:
        return target
    return (np.round(target / step) * step).clip(-1.0, 1.0)


__all__ = [
    "MAX_INT_PARAM",
    "Strategy",
    "TargetStrategy",
    "params_hash",
    "quantize",
]

"""The mock's runtime knobs: :class:`MockLLMConfig` and the coercion of knob values."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = ["DEFAULT_MODEL", "MockLLMConfig"]

DEFAULT_MODEL = "mock-model"

_PROBABILITY_KNOBS = ("rate_429", "rate_500", "broken_json_rate")
_INTEGER_KNOBS = (
    "max_in_flight",
    "fail_next_500",
    "seed",
    "tool_call_turns",
    "tool_calls_per_turn",
)
_NULLABLE_KNOBS = ("retry_after", "max_in_flight")


@dataclasses.dataclass
class MockLLMConfig:
    """Runtime knobs of the mock server (settable at construction, on the CLI and over HTTP).

    Attributes:
        latency: Seconds every admitted chat request waits before it is answered.
        latency_jitter: Uniform +/- seconds added to ``latency`` (the sum is floored at 0).
        rate_429: Probability of a random 429 (answered immediately, without latency).
        retry_after: Seconds sent in the ``Retry-After`` header of 429s; ``None`` omits it.
        max_in_flight: Hard cap on concurrent chat requests; a request arriving while this many
            are in flight gets a 429 immediately. ``None`` means no cap.
        rate_500: Probability of a 500 (answered after the latency).
        fail_next_500: The next N chat requests answer 500 (counts down as they arrive).
        broken_json_rate: Probability that a structured request (``response_format`` of type
            ``json_schema`` or ``json_object``) gets syntactically broken JSON.
        seed: Seed of the RNG behind the random faults and the latency jitter.
        tool_call_turns: A request that offers ``tools`` gets tool calls while the
            conversation holds fewer assistant tool-call turns than this; then a final answer.
        tool_calls_per_turn: How many tool calls each such answer makes (at least 1).
    """

    latency: float = 0.0
    latency_jitter: float = 0.0
    rate_429: float = 0.0
    retry_after: float | None = 0.0
    max_in_flight: int | None = None
    rate_500: float = 0.0
    fail_next_500: int = 0
    broken_json_rate: float = 0.0
    seed: int = 0
    tool_call_turns: int = 1
    tool_calls_per_turn: int = 1

    def __post_init__(self) -> None:
        self.update(**dataclasses.asdict(self))

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        """Names of all knobs, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """The knobs as a JSON-ready dict."""
        return dataclasses.asdict(self)

    def copy(self) -> MockLLMConfig:
        """An independent copy."""
        return dataclasses.replace(self)

    def update(self, **knobs: Any) -> MockLLMConfig:
        """Validate, coerce and apply ``knobs`` in place (all or nothing); returns ``self``.

        Raises:
            ValueError: on an unknown knob or an invalid value (nothing is applied then).
        """
        names = self.knob_names()
        unknown = sorted(set(knobs) - set(names))
        if unknown:
            raise ValueError(f"unknown mock LLM knob(s): {', '.join(unknown)}")
        coerced = {name: _coerce_knob(name, value) for name, value in knobs.items()}
        for name, value in coerced.items():
            setattr(self, name, value)
        return self


def _coerce_knob(name: str, value: Any) -> Any:
    """Convert one knob value to its type and check its range."""
    if isinstance(value, str) and value.strip().lower() in ("none", "null", ""):
        value = None
    if value is None:
        if name in _NULLABLE_KNOBS:
            return None
        raise ValueError(f"knob {name!r} may not be null")
    if isinstance(value, bool):
        raise ValueError(f"knob {name!r} must be a number, not a boolean")
    try:
        if name in _INTEGER_KNOBS:
            number: float = int(value)
            if isinstance(value, float) and value != number:
                raise ValueError
        else:
            number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"knob {name!r} got an invalid value: {value!r}") from None
    if name in _PROBABILITY_KNOBS and not 0.0 <= number <= 1.0:
        raise ValueError(f"knob {name!r} is a probability, got {number}")
    if name != "seed" and (number < 0 or not math.isfinite(number)):
        raise ValueError(f"knob {name!r} must be a finite number >= 0, got {number}")
    if name == "max_in_flight" and number < 1:
        raise ValueError("knob 'max_in_flight' must be >= 1 (or null for no cap)")
    if name == "tool_calls_per_turn" and number < 1:
        raise ValueError("knob 'tool_calls_per_turn' must be >= 1")
    return number

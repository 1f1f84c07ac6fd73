"""Resume modes (names follow Data Designer)."""

from __future__ import annotations

from enum import StrEnum

from dd_prefect.errors import ConfigValidationError


class ResumeMode(StrEnum):
    """What a run does with the artifacts of an earlier run under the same name.

    - ``NEVER``: start clean; earlier artifacts are replaced.
    - ``IF_POSSIBLE``: reuse what matches (finished row groups, completed stages) and
      generate the rest; start fresh when nothing matches or the metadata is unreadable.
    - ``ALWAYS``: like IF_POSSIBLE, but raise instead of starting anything fresh.
    """

    NEVER = "never"
    IF_POSSIBLE = "if_possible"
    ALWAYS = "always"

    @classmethod
    def parse(cls, value: ResumeMode | str) -> ResumeMode:
        """Accept the enum or its value in any case (``"if-possible"`` too)."""
        if isinstance(value, ResumeMode):
            return value
        try:
            return cls(str(value).strip().lower().replace("-", "_"))
        except ValueError:
            options = ", ".join(m.value for m in cls)
            raise ConfigValidationError.of(
                f"unknown resume mode {value!r} (use {options})", field="resume"
            ) from None

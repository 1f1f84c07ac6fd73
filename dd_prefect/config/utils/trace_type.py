"""What an LLM column records of its conversation (Data Designer's ``TraceType``)."""

from __future__ import annotations

from enum import StrEnum


class TraceType(StrEnum):
    """``none`` (the default), the ``last_message``, or ``all_messages``, in ``<column>__trace``."""

    NONE = "none"
    LAST_MESSAGE = "last_message"
    ALL_MESSAGES = "all_messages"

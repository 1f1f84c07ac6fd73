"""JSON instances of a JSON schema, derived deterministically from a seed."""

from __future__ import annotations

import math
import random
import re
import uuid
from typing import Any

__all__ = ["build_instance"]

WORD_RE = re.compile(r"[A-Za-z]{3,}")
_MAX_DEPTH = 16


class _InstanceBuilder:
    """Builds a JSON instance that validates against a JSON schema, deterministically."""

    def __init__(self, root: Any, rng: random.Random, words: list[str], digest: str) -> None:
        self.root = root
        self.rng = rng
        self.words = words or ["value"]
        self.digest = digest

    # -- helpers ---------------------------------------------------------------------------

    def resolve(self, schema: Any, depth: int = 0) -> Any:
        """Follow ``$ref`` (local JSON pointers such as ``#/$defs/X``) until a concrete schema."""
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < 64:
            target = self._pointer(schema["$ref"])
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **siblings} if siblings and isinstance(target, dict) else target
            depth += 1
        return schema

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node = self.root
        for raw in ref[1:].split("/")[1:]:
            key = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node

    def merge(self, schemas: list[Any]) -> dict[str, Any]:
        """Merge ``allOf`` branches: union of properties/required, later keys win otherwise."""
        merged: dict[str, Any] = {}
        for sub in schemas:
            sub = self.resolve(sub)
            if not isinstance(sub, dict):
                continue
            if "allOf" in sub:
                sub = {**{k: v for k, v in sub.items() if k != "allOf"}, **self.merge(sub["allOf"])}
            for key, value in sub.items():
                if key == "properties" and isinstance(value, dict):
                    props = merged.setdefault("properties", {})
                    for name, prop in value.items():
                        props[name] = {"allOf": [props[name], prop]} if name in props else prop
                elif key == "required" and isinstance(value, list):
                    required = merged.setdefault("required", [])
                    required.extend(r for r in value if r not in required)
                else:
                    merged[key] = value
        return merged

    def text(self, hint: str = "") -> str:
        word = self.rng.choice(self.words)
        tag = f"{self.rng.getrandbits(24):06x}"
        return f"mock {word} {tag}" if not hint else f"mock {hint} {word} {tag}"

    # -- generation ------------------------------------------------------------------------

    def build(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        """An instance of ``schema`` (``name`` is the property name, used as a text hint)."""
        schema = self.resolve(schema)
        if schema is True or not isinstance(schema, dict):
            return self.text(name)
        if depth > _MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        if isinstance(schema.get("allOf"), list):
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.build(self.merge([rest, *schema["allOf"]]), name, depth + 1)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in schema.items() if k != key}
                chosen = next((b for b in branches if not self._is_null(b)), branches[0])
                return self.build(self.merge([rest, chosen]), name, depth + 1)
        kind = self._type_of(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.text(name)

    def _is_null(self, schema: Any) -> bool:
        schema = self.resolve(schema)
        return isinstance(schema, dict) and (
            schema.get("type") == "null" or ("const" in schema and schema["const"] is None)
        )

    @staticmethod
    def _type_of(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            kind = non_null[0] if non_null else (kind[0] if kind else None)
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        if "minimum" in schema or "maximum" in schema or "multipleOf" in schema:
            return "number"
        return "string"

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        out = {key: self.build(sub, key, depth + 1) for key, sub in props.items()}
        for key in schema.get("required") or []:
            if key not in out:
                extra = schema.get("additionalProperties")
                out[key] = self.build(extra if isinstance(extra, dict) else True, key, depth + 1)
        return out

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items", True)
        if isinstance(items, list):  # draft-4..2019 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        prefix = prefix if isinstance(prefix, list) else []
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = max(low, len(prefix), self.rng.randint(1, 3))
        if high is not None:
            count = max(min(count, int(high)), low)
        if items is False:
            count = min(count, len(prefix))
        out: list[Any] = []
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else items
            value = self.build(sub, name, depth + 1)
            if schema.get("uniqueItems"):
                for _ in range(8):
                    if value not in out:
                        break
                    value = self.build(sub, name, depth + 1)
                else:
                    if len(out) >= low:
                        break
            out.append(value)
        return out

    def _string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        bits = self.rng.getrandbits(32)
        date = f"2024-{bits % 12 + 1:02d}-{bits % 28 + 1:02d}"
        clock = f"{bits % 24:02d}:{bits % 60:02d}:00Z"
        if fmt == "date":
            return date
        if fmt == "date-time":
            return f"{date}T{clock}"
        if fmt == "time":
            return clock
        if fmt == "email":
            return f"mock.{bits:08x}@example.com"
        if fmt in ("uri", "url", "iri"):
            return f"https://example.com/mock/{bits:08x}"
        if fmt == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if fmt == "ipv4":
            return f"10.{bits % 256}.{(bits >> 8) % 256}.{(bits >> 16) % 256}"
        if fmt == "duration":
            return f"PT{bits % 60 + 1}M"
        value = self.text(name)
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        if len(value) < low:
            filler = (self.digest * (low // len(self.digest) + 1))[: low - len(value)]
            value += filler
        if high is not None:
            value = value[: max(int(high), low)]
        return value

    def _bounds(self, schema: dict[str, Any]) -> tuple[float | None, bool, float | None, bool]:
        """(low, low_exclusive, high, high_exclusive) for draft-4 and draft-6+ keywords."""
        low, high = schema.get("minimum"), schema.get("maximum")
        low_ex = high_ex = False
        ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if isinstance(ex_min, bool):
            low_ex = ex_min
        elif isinstance(ex_min, int | float) and (low is None or ex_min >= low):
            low, low_ex = ex_min, True
        if isinstance(ex_max, bool):
            high_ex = ex_max
        elif isinstance(ex_max, int | float) and (high is None or ex_max <= high):
            high, high_ex = ex_max, True
        return low, low_ex, high, high_ex

    def _integer(self, schema: dict[str, Any]) -> int:
        low_f, low_ex, high_f, high_ex = self._bounds(schema)
        low = None if low_f is None else math.floor(low_f) + 1 if low_ex else math.ceil(low_f)
        high = None if high_f is None else math.ceil(high_f) - 1 if high_ex else math.floor(high_f)
        if low is None and high is None:
            low, high = 0, 100
        elif low is None:
            low = high - 100  # type: ignore[operator]
        elif high is None:
            high = low + 100
        assert low is not None and high is not None
        if low > high:
            return low
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            return self.rng.randint(first, last) * step if first <= last else low
        return self.rng.randint(low, high)

    def _number(self, schema: dict[str, Any]) -> float | int:
        low, low_ex, high, high_ex = self._bounds(schema)
        if low is None and high is None:
            low, high = 0.0, 100.0
        elif low is None:
            low = high - 100.0  # type: ignore[operator]
        elif high is None:
            high = low + 100.0
        assert low is not None and high is not None
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            candidates = [k for k in (first, first + 1, last - 1, last) if first <= k <= last]
            for k in candidates:
                value = k * step
                if (not low_ex or value > low) and (not high_ex or value < high):
                    return value
            return low
        value = round(low + self.rng.random() * (high - low), 2)
        if (low_ex and value <= low) or (high_ex and value >= high) or not low <= value <= high:
            value = (low + high) / 2
        return value


def build_instance(schema: Any, seed_hex: str, prompt: str = "") -> Any:
    """A JSON instance of ``schema`` derived deterministically from ``seed_hex`` and ``prompt``.

    Supports object/array/string/integer/number/boolean/null, enum/const, anyOf/oneOf (first
    non-null branch), allOf (merged), local ``$ref`` and the common string formats.
    ``pattern`` is not supported.
    """
    rng = random.Random(int(seed_hex[:16], 16))
    words = WORD_RE.findall(prompt)[:64]
    return _InstanceBuilder(schema, rng, words, seed_hex).build(schema)

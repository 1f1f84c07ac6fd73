"""Faker people for the ``person`` and ``person_from_faker`` samplers, one dict per row.

Every random choice of a row comes from the block draws of
:func:`dd_prefect.engine.randomness.draw_rows` (including a per-row Faker seed), so with a
seed a row's person does not depend on how the run is split into row groups.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import numpy as np

from dd_prefect.config.samplers import PersonFromFakerSamplerParams, PersonSamplerParams

Draw = Callable[[Callable[[np.random.Generator, int], tuple[np.ndarray, ...]]], tuple]

PERSON_FIELDS = (
    "first_name",
    "last_name",
    "sex",
    "age",
    "city",
    "email",
    "phone_number",
    "occupation",
)
"""Keys of every ``person`` dict, in order (fixed, so the parquet struct type is stable)."""

FAKER_PERSON_FIELDS = (
    "uuid",
    "locale",
    "first_name",
    "last_name",
    "middle_name",
    "sex",
    "street_number",
    "street_name",
    "city",
    "state",
    "postcode",
    "age",
    "birth_date",
    "country",
    "marital_status",
    "education_level",
    "unit",
    "occupation",
    "phone_number",
    "bachelors_field",
)
"""Keys of every ``person_from_faker`` dict, in Data Designer's order."""

# Data Designer's choices for the fields Faker has no provider for.
MARITAL_STATUSES = ("married_present", "divorced", "never_married", "separated", "widowed")
EDUCATION_LEVELS = (
    "secondary_education",
    "some_college",
    "bachelors",
    "associates",
    "graduate",
    "doctorate",
)
COLLEGE_LEVELS = frozenset({"bachelors", "graduate", "doctorate"})
BACHELORS_FIELDS = ("stem", "business", "education", "arts_humanities", "stem_related")
MAX_AGE = 114
"""Data Designer's oldest person (and 0 its youngest)."""

_FAKERS: dict[str, tuple[Any, threading.Lock]] = {}
_FAKERS_LOCK = threading.Lock()


def _faker(locale: str) -> tuple[Any, threading.Lock]:
    """One Faker generator (and a lock guarding its seeding) per locale per process."""
    with _FAKERS_LOCK:
        if locale not in _FAKERS:
            from faker import Faker

            try:
                generator = Faker(locale).factories[0]
            except AttributeError as exc:  # Faker's error for an unknown locale
                raise ValueError(f"unknown Faker locale '{locale}'") from exc
            _FAKERS[locale] = (generator, threading.Lock())
        return _FAKERS[locale]


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _name(fake: Any, sex: str) -> tuple[str, str]:
    first = getattr(fake, "first_name_male" if sex == "Male" else "first_name_female", None)
    last = getattr(fake, "last_name_male" if sex == "Male" else "last_name_female", None)
    return (first or fake.first_name)(), (last or fake.last_name)()


def _or_none(fake: Any, provider: str) -> Any:
    """``fake.<provider>()``, or None where the locale has no such provider."""
    method = getattr(fake, provider, None)
    return method() if method is not None else None


def _check_ages(params: PersonSamplerParams | PersonFromFakerSamplerParams) -> tuple[int, int]:
    if len(params.age_range) != 2 or not 0 <= params.age_range[0] <= params.age_range[1]:
        raise ValueError(
            f"age_range must be [min, max] with 0 <= min <= max, got {params.age_range}"
        )
    return params.age_range[0], params.age_range[1]


def _cities(city: str | list[str] | None) -> list[str]:
    return [city] if isinstance(city, str) else list(city or [])


def person_values(p: PersonSamplerParams, draw: Draw) -> np.ndarray:
    """``person`` dicts (keys :data:`PERSON_FIELDS`) for the rows `draw` covers."""
    age_lo, age_hi = _check_ages(p)
    cities = _cities(p.city)

    def raw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        return (
            rng.integers(0, 2**63 - 1, size, dtype=np.int64),  # per-row Faker seed
            rng.random(size) < 0.5,  # female?
            rng.integers(age_lo, age_hi + 1, size, dtype=np.int64),
            rng.integers(0, max(len(cities), 1), size, dtype=np.int64),
        )

    row_seeds, female, ages, city_idx = draw(raw)
    fake, lock = _faker(p.locale)
    out = np.empty(len(row_seeds), dtype=object)
    with lock:
        for i in range(len(row_seeds)):
            # Seeding per row (from the block's draws) keeps rows independent of the split
            # and generates only the rows asked for.
            fake.seed_instance(int(row_seeds[i]))
            sex = p.sex or ("Female" if female[i] else "Male")
            first, last = _name(fake, sex)
            user = ".".join(s for s in (_ascii_slug(first), _ascii_slug(last)) if s)
            out[i] = {
                "first_name": first,
                "last_name": last,
                "sex": sex,
                "age": int(ages[i]),
                "city": cities[city_idx[i]] if cities else fake.city(),
                "email": f"{user or fake.user_name()}@{fake.free_email_domain()}",
                "phone_number": fake.phone_number(),
                "occupation": fake.job(),
            }
    return out


def faker_person_values(
    p: PersonFromFakerSamplerParams, draw: Draw, *, today: date | None = None
) -> np.ndarray:
    """``person_from_faker`` dicts (keys :data:`FAKER_PERSON_FIELDS`), as Data Designer
    makes them: no middle name, an empty unit, no phone number under 18, a bachelors field
    only with a college education, and a birth date `today` (default: the current date)
    minus the age and a random part of a year."""
    age_lo, age_hi = _check_ages(p)
    if not age_lo < age_hi or age_hi > MAX_AGE:
        raise ValueError(
            f"age_range must be [min, max] with 0 <= min < max <= {MAX_AGE}, got {p.age_range}"
        )
    cities = _cities(p.city)
    today = today or date.today()

    def raw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        return (
            rng.integers(0, 2**63 - 1, size, dtype=np.int64),  # per-row Faker seed
            rng.random(size) < 0.5,  # female?
            rng.integers(age_lo, age_hi + 1, size, dtype=np.int64),
            rng.integers(0, max(len(cities), 1), size, dtype=np.int64),
            rng.integers(0, len(MARITAL_STATUSES), size, dtype=np.int64),
            rng.integers(0, len(EDUCATION_LEVELS), size, dtype=np.int64),
            rng.integers(0, len(BACHELORS_FIELDS), size, dtype=np.int64),
            rng.random(size),  # how far into the year before the birthday
            np.frombuffer(rng.bytes(16 * size), dtype=np.uint8).reshape(size, 16),
        )

    seeds, female, ages, city_idx, marital, education, field, into_year, uuids = draw(raw)
    fake, lock = _faker(p.locale)
    out = np.empty(len(seeds), dtype=object)
    with lock:
        for i in range(len(seeds)):
            fake.seed_instance(int(seeds[i]))
            sex = p.sex or ("Female" if female[i] else "Male")
            first, last = _name(fake, sex)
            age = int(ages[i])
            level = EDUCATION_LEVELS[education[i]]
            out[i] = {
                "uuid": _uuid4(uuids[i]),
                "locale": p.locale,
                "first_name": first,
                "last_name": last,
                "middle_name": None,
                "sex": sex,
                "street_number": _or_none(fake, "building_number"),
                "street_name": _or_none(fake, "street_name"),
                "city": cities[city_idx[i]] if cities else _or_none(fake, "city"),
                "state": _or_none(fake, "state"),
                "postcode": _or_none(fake, "postcode"),
                "age": age,
                "birth_date": _birth_date(today, age, float(into_year[i])).isoformat(),
                "country": _or_none(fake, "country"),
                "marital_status": MARITAL_STATUSES[marital[i]],
                "education_level": level,
                "unit": "",
                "occupation": _or_none(fake, "job"),
                "phone_number": _or_none(fake, "phone_number") if age >= 18 else None,
                "bachelors_field": (
                    BACHELORS_FIELDS[field[i]] if level in COLLEGE_LEVELS else "no_degree"
                ),
            }
    return out


def _birth_date(today: date, age: int, fraction: float) -> date:
    """A day in the year ending on the `age`-th birthday before `today`."""
    end = _years_before(today, age)
    start = _years_before(today, age + 1)
    return start + timedelta(days=int(fraction * ((end - start).days + 1)))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _uuid4(raw: np.ndarray) -> str:
    b = bytearray(raw.tobytes())
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

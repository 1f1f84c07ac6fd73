"""The person_from_faker sampler: Data Designer's fields, params, and split-independent rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from dd_prefect.config.builder import DataDesignerConfigBuilder
from dd_prefect.config.columns import SamplerColumnConfig
from dd_prefect.config.samplers import PersonFromFakerSamplerParams
from dd_prefect.config.validation import validate_config
from dd_prefect.engine.persons import FAKER_PERSON_FIELDS, faker_person_values
from dd_prefect.engine.randomness import draw_rows
from dd_prefect.engine.samplers import sample_columns
from dd_prefect.errors import ConfigValidationError


def people(n: int, *, start: int = 0, seed: int | None = 3, **params) -> list[dict]:
    column = SamplerColumnConfig(name="who", sampler_type="person_from_faker", params=params)
    frame = pd.DataFrame(index=pd.RangeIndex(n))
    return list(sample_columns([column], frame, start=start, seed=seed, fingerprint="fp")["who"])


def test_fields_in_data_designers_order() -> None:
    rows = people(300, age_range=[10, 40])
    for person in rows:
        assert tuple(person) == FAKER_PERSON_FIELDS
        assert person["locale"] == "en_US"
        assert person["middle_name"] is None and person["unit"] == ""
        assert person["sex"] in ("Male", "Female")
        assert 10 <= person["age"] <= 40
        assert (person["phone_number"] is None) == (person["age"] < 18)
        college = person["education_level"] in ("bachelors", "graduate", "doctorate")
        assert (person["bachelors_field"] == "no_degree") != college
        assert len(person["uuid"]) == 36 and person["uuid"][14] == "4"
        assert all(isinstance(person[k], str) for k in ("city", "state", "postcode", "country"))
    assert {p["sex"] for p in rows} == {"Male", "Female"}
    assert len({p["uuid"] for p in rows}) == 300


def test_birth_date_matches_age() -> None:
    params = PersonFromFakerSamplerParams(age_range=[0, 114])
    today = date(2024, 2, 29)

    def draw(fn):
        return draw_rows(5, "fp", "who", 0, 500, fn)

    for person in faker_person_values(params, draw, today=today):
        born = date.fromisoformat(person["birth_date"])
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        assert age in (person["age"], person["age"] + 1)  # as Data Designer: [age+1, age] years ago


def test_params_fix_sex_city_and_locale() -> None:
    rows = people(100, sex="Female", city=["Lyon", "Nice"], locale="fr_FR")
    assert {p["sex"] for p in rows} == {"Female"}
    assert {p["city"] for p in rows} == {"Lyon", "Nice"}
    assert {p["locale"] for p in rows} == {"fr_FR"}
    # en_GB has no state provider: None, as Data Designer writes it
    assert {p["state"] for p in people(5, locale="en_GB")} == {None}


def test_same_rows_whatever_the_split() -> None:
    whole = people(600)
    parts = people(250) + people(350, start=250)
    assert whole == parts
    assert people(600, seed=4) != whole
    assert people(3, seed=None) != people(3, seed=None)


def test_bad_params_are_reported_before_running() -> None:
    builder = DataDesignerConfigBuilder()
    builder.add_column(
        name="who",
        column_type="sampler",
        sampler_type="person_from_faker",
        params={"age_range": [30, 30], "locale": "xx_XX"},
    )
    with pytest.raises(ConfigValidationError) as info:
        validate_config(builder.build())
    text = str(info.value)
    assert "person_from_faker age_range needs min < max <= 114" in text
    assert "unknown Faker locale 'xx_XX'" in text


def test_values_are_an_object_column() -> None:
    column = SamplerColumnConfig(name="who", sampler_type="person_from_faker", params={})
    out = sample_columns(
        [column], pd.DataFrame(index=pd.RangeIndex(4)), start=0, seed=1, fingerprint="fp"
    )
    assert out["who"].dtype == np.dtype(object)

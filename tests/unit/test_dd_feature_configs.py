"""Config side of Data Designer's validation columns, custom generator functions, skip and
conditional_params: how they load from Data Designer's shapes, write, and resolve."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

import dd_prefect.config as dd
from dd_prefect.config.custom_column import (
    generator_problem,
    resolve_generator,
    validate_generator_signature,
)

COLUMN = TypeAdapter(dd.ColumnConfig)


@dd.custom_column_generator(required_columns=["a"], side_effect_columns=["b_extra"])
def make_b(row: dict) -> dict:
    row["b"] = row["a"] + 1
    row["b_extra"] = 0
    return row


class Params(BaseModel):
    k: int = 1


def test_data_designer_validation_column_round_trips() -> None:
    raw = {
        "name": "sql_ok",
        "drop": False,
        "column_type": "validation",
        "skip": None,
        "propagate_skip": True,
        "target_columns": ["sql"],
        "validator_type": "code",
        "validator_params": {"validator_type": "code", "code_lang": "sql:sqlite"},
        "batch_size": 10,
    }
    column = COLUMN.validate_python(raw)
    assert isinstance(column, dd.ValidationColumnConfig)
    assert isinstance(column.validator_params, dd.CodeValidatorParams)
    assert column.model_dump() == raw
    assert column.required_columns() == {"sql"}


def test_code_languages_and_validator_types_are_checked() -> None:
    base = {"name": "v", "column_type": "validation", "target_columns": ["c"]}
    with pytest.raises(ValidationError, match="code validators check python, sql:"):
        COLUMN.validate_python(
            {**base, "validator_type": "code", "validator_params": {"code_lang": "rust"}}
        )
    with pytest.raises(ValidationError, match="validator_type 'code' needs CodeValidatorParams"):
        dd.ValidationColumnConfig(
            **base,
            validator_type="code",
            validator_params=dd.LocalCallableValidatorParams(validation_function="m:f"),
        )


def test_callables_are_stored_as_paths() -> None:
    params = dd.LocalCallableValidatorParams(validation_function=test_callables_are_stored_as_paths)
    assert params.validation_function == f"{__name__}:test_callables_are_stored_as_paths"
    with pytest.raises(ValidationError, match="not a module-level function"):
        dd.LocalCallableValidatorParams(validation_function=lambda df: df)
    column = dd.CustomColumnConfig(name="b", generator_function=make_b, generator_params=Params())
    assert column.generator_function == f"{__name__}:make_b"
    assert column.generator_params == {"k": 1}
    assert column.required_columns() == {"a"} and column.side_effect_columns == ["b_extra"]


def test_generator_functions_resolve_by_path_or_registered_name() -> None:
    assert resolve_generator("make_b") is make_b
    assert resolve_generator(f"{__name__}:make_b") is make_b
    with pytest.raises(LookupError, match="Data Designer writes only a function's name"):
        resolve_generator("never_defined")
    assert "first parameter must be 'df'" in str(generator_problem("make_b", "full_column"))
    assert generator_problem("make_b", "cell_by_cell") is None


def test_decorator_checks_signatures_as_data_designer() -> None:
    def bad(record: dict) -> dict:
        return record

    with pytest.raises(TypeError, match="param 1 must be 'df' or 'row', got 'record'"):
        dd.custom_column_generator()(bad)

    def with_models(row: dict, generator_params: None, models: dict) -> dict:
        return row

    assert len(validate_generator_signature(with_models)) == 3
    dd.custom_column_generator(model_aliases=["m"])(with_models)
    assert "takes `models`" in str(generator_problem("with_models", "cell_by_cell"))


def test_custom_column_needs_exactly_one_function() -> None:
    with pytest.raises(ValidationError, match="exactly one of function"):
        dd.CustomColumnConfig(name="x")
    with pytest.raises(ValidationError, match="exactly one of function"):
        dd.CustomColumnConfig(name="x", function="json:dumps", generator_function="make_b")


def test_skip_and_conditions_are_graph_edges() -> None:
    b = dd.DataDesignerConfigBuilder()
    b.add_column(
        name="tier", column_type="sampler", sampler_type="category", params={"values": ["a"]}
    )
    b.add_column(
        name="size",
        column_type="sampler",
        sampler_type="uniform",
        params={"low": 0, "high": 1},
        conditional_params={"tier == 'a'": {"low": 5, "high": 6}},
    )
    b.add_column(name="gate", column_type="expression", expr="{{ size }}")
    b.add_column(name="text", column_type="expression", expr="x", skip={"when": "{{ gate }}"})
    graph = dd.dependency_graph(b.build().columns)
    assert graph["size"] == {"tier"} and graph["text"] == {"gate"}
    assert [c.name for c in dd.topological_order(b.build().columns)][-1] == "text"

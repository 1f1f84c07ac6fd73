"""Code validators on their own: SQL per dialect (sqlglot) and Python (ruff, as Data Designer)."""

from __future__ import annotations

import pytest

from dd_prefect.engine.validators import SQLGLOT_DIALECTS, check_sql, lint_python


@pytest.mark.parametrize(
    ("sql", "dialect", "valid"),
    [
        ("SELECT TOP 5 * FROM t", "tsql", True),
        ("SELECT TOP 5 * FROM t", "postgres", False),
        ("SELECT * FROM t LIMIT 5", "sqlite", True),
        ("SELECT `a` FROM `t`", "mysql", True),
        ("SELECT a FROM `project.dataset.t`", "bigquery", True),
        ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", None, True),
        ("SELECT * FROM", None, False),
        ("SELECT (1", None, False),
        ("SELECT 'unterminated", None, False),
        ("the answer is 42", None, False),  # prose parses as an expression, not a statement
    ],
)
def test_sql_is_parsed_in_its_dialect(sql: str, dialect: str | None, valid: bool) -> None:
    result = check_sql(sql, dialect)
    assert result["is_valid"] is valid
    assert (result["error_messages"] == "") is valid
    if not valid:
        assert result["error_messages"].startswith("PRS: ")


def test_decimal_without_scale_is_flagged_as_data_designer_does() -> None:
    result = check_sql("CREATE TABLE t (price DECIMAL(10))", SQLGLOT_DIALECTS["postgres"])
    assert result == {
        "is_valid": False,
        "error_messages": "Custom Check: Found DECIMAL definitions without a scale, which may "
        "be incorrect.",
    }


def test_python_messages_are_sorted_by_severity_then_line() -> None:
    code = "import os\n\nx = 1\nif x == None:\n    print(undefined)\n"
    (result,) = lint_python([code])
    kinds = [(m["type"], m["symbol"]) for m in result["python_linter_messages"]]
    assert kinds == [("error", "F821"), ("refactor", "E711")]
    assert result["is_valid"] is False and result["python_linter_severity"] == "error"
    # pylint's score: 10 - 10 * (5 errors + 1 refactor) / 4 statements, at least 0
    assert result["python_linter_score"] == 0.0
    assert lint_python([]) == []

"""Validation columns: each row's target values checked by a linter or parser, a local
function or an HTTP endpoint.

The result of a row is a dict shaped as Data Designer stores it:

- Python (ruff, with the rules and scoring Data Designer uses): ``is_valid``,
  ``python_linter_score``, ``python_linter_severity``, ``python_linter_messages``;
- SQL (parsed by sqlglot in the column's dialect): ``is_valid``, ``error_messages``;
- local callable: the function's output row (``is_valid`` and whatever else it returns);
- remote: the endpoint's result (see :mod:`.remote_validator`).

Validation is CPU work, a ruff process per row group, or HTTP requests: it runs off the
event loop.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd

from dd_prefect.config.callables import load_callable
from dd_prefect.config.utils.code_lang import CodeLang
from dd_prefect.config.validation_column import ValidationColumnConfig
from dd_prefect.config.validator_params import (
    LocalCallableValidatorParams,
    RemoteValidatorParams,
)
from dd_prefect.engine.remote_validator import remote_results
from dd_prefect.errors import GenerationError

# Data Designer's ruff selection, and how a rule code maps to a pylint message type.
RUFF_RULES = "E,F6,F7,F8,SIM,PLC,PLE,PLR,PLW"
TYPE_FROM_SYMBOL = {
    "E": "refactor",
    "F": "error",
    "SIM": "refactor",
    "PLC": "convention",
    "PLE": "error",
    "PLR": "refactor",
    "PLW": "warning",
}
TYPES_BY_SEVERITY = ("fatal", "error", "warning", "convention", "refactor")
VALID_SEVERITIES = frozenset({"none", "warning", "convention", "refactor"})
SYNTAX_ERROR_CODES = frozenset({"invalid-syntax", "E999", "SyntaxError"})

SQLGLOT_DIALECTS = {
    "sqlite": "sqlite",
    "tsql": "tsql",
    "bigquery": "bigquery",
    "mysql": "mysql",
    "postgres": "postgres",
    "ansi": None,  # sqlglot's own dialect is ANSI-like
}
_DECIMAL_WITHOUT_SCALE = re.compile(r"DECIMAL\(\d+\)")

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to a Command" notes


async def run_validation_column(
    column: ValidationColumnConfig,
    records: list[dict[str, Any]],
    rows: list[int],
) -> None:
    """Set `column` in `records[i]` for each i in `rows` (the rows to validate).

    Raises GenerationError naming the column when the validator itself fails.
    """
    if not rows:
        return
    try:
        results = await asyncio.to_thread(_validate, column, [records[i] for i in rows])
    except GenerationError:
        raise
    except Exception as exc:
        raise GenerationError(
            f"column '{column.name}': validation failed: {type(exc).__name__}: {exc}"
        ) from exc
    for i, result in zip(rows, results, strict=True):
        records[i][column.name] = result


def _validate(column: ValidationColumnConfig, rows: list[dict[str, Any]]) -> list[Any]:
    params = column.validator_params
    batches = [rows[s : s + column.batch_size] for s in range(0, len(rows), column.batch_size)]
    if isinstance(params, LocalCallableValidatorParams):
        function = load_callable(params.validation_function)
        return [
            result
            for batch in batches
            for result in _local_callable(column, params, function, batch)
        ]
    if isinstance(params, RemoteValidatorParams):
        return remote_results(params, [[_targets(column, row) for row in b] for b in batches])
    check = _code_checker(params.code_lang)
    # Code results do not depend on the batching: all the rows at once (one ruff process).
    per_target = {t: check([_text(row[t]) for row in rows]) for t in column.target_columns}
    if len(column.target_columns) == 1:
        return per_target[column.target_columns[0]]
    return [{t: per_target[t][i] for t in column.target_columns} for i in range(len(rows))]


def _targets(column: ValidationColumnConfig, row: dict[str, Any]) -> dict[str, Any]:
    return {t: row[t] for t in column.target_columns}


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _code_checker(code_lang: str) -> Callable[[list[str]], list[dict[str, Any]]]:
    if code_lang == CodeLang.PYTHON:
        return lint_python
    dialect = SQLGLOT_DIALECTS[CodeLang.parse_dialect(code_lang) or "ansi"]
    return lambda codes: [check_sql(code, dialect) for code in codes]


# -- local callable ---------------------------------------------------------------------------


def _local_callable(
    column: ValidationColumnConfig,
    params: LocalCallableValidatorParams,
    function: Callable[..., Any],
    batch: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    frame = pd.DataFrame([_targets(column, row) for row in batch])
    out = function(frame)
    where = f"column '{column.name}': validation function '{params.validation_function}'"
    if not isinstance(out, pd.DataFrame):
        raise GenerationError(f"{where} returned {type(out).__name__}, not a DataFrame")
    if len(out) != len(batch):
        raise GenerationError(f"{where} returned {len(out)} rows for {len(batch)}")
    if "is_valid" not in out.columns:
        raise GenerationError(f"{where} returned no 'is_valid' column")
    results: list[dict[str, Any]] = json.loads(out.to_json(orient="records", default_handler=str))
    if params.output_schema:
        try:
            jsonschema.validate({"data": results}, params.output_schema)
        except jsonschema.ValidationError as exc:
            raise GenerationError(
                f"{where}: output does not match output_schema: {exc.message}"
            ) from None
    return results


# -- SQL ------------------------------------------------------------------------------------


def check_sql(code: str, dialect: str | None) -> dict[str, Any]:
    """Parse `code` as SQL of `dialect` (a sqlglot name; None: ANSI-like).

    Invalid: a parse or tokenizer error, or a statement that is only an expression (prose
    such as ``hello world`` parses as a column alias). Data Designer's extra check is kept:
    ``DECIMAL(p)`` without a scale is reported (and makes the row invalid).
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    messages = []
    try:
        statements = sqlglot.parse(code, read=dialect)
    except ParseError as exc:
        messages += [
            f"PRS: {e['description']} (line {e['line']}, column {e['col']})" for e in exc.errors
        ] or [f"PRS: {exc}"]
    except TokenError as exc:
        messages.append(f"PRS: {exc}")
    else:
        for statement in statements:
            if isinstance(statement, exp.Alias | exp.Condition):
                messages.append(f"PRS: not a SQL statement: {statement.sql()[:80]!r}")
    if _DECIMAL_WITHOUT_SCALE.search(code):
        messages.append(
            "Custom Check: Found DECIMAL definitions without a scale, which may be incorrect."
        )
    return {"is_valid": not messages, "error_messages": "\n".join(messages)}


# -- Python ---------------------------------------------------------------------------------


def lint_python(codes: list[str]) -> list[dict[str, Any]]:
    """Lint each code string as its own module with ruff (one process for all of them)."""
    from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory(prefix="dd-prefect-lint-") as tmp:
        files = [Path(tmp, f"m{i}.py") for i in range(len(codes))]
        for path, code in zip(files, codes, strict=True):
            path.write_text(code, encoding="utf-8")
        done = subprocess.run(
            [
                find_ruff_bin(),
                "check",
                "--isolated",
                "--no-cache",
                "--exit-zero",
                "--select",
                RUFF_RULES,
                "--output-format=json",
                tmp,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            diagnostics = json.loads(done.stdout or "[]")
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"ruff gave no JSON ({exc}): {done.stderr.strip()[:300]}") from None
    messages: dict[str, list[dict[str, Any]]] = {p.stem: [] for p in files}
    for d in diagnostics:
        code = d.get("code")
        if code is None or code in SYNTAX_ERROR_CODES:
            kind = "fatal"
        else:
            kind = TYPE_FROM_SYMBOL.get("".join(c for c in code if c.isalpha()), "warning")
        messages[Path(d["filename"]).stem].append(
            {
                "type": kind,
                "symbol": str(code),
                "line": d["location"]["row"],
                "column": d["location"]["column"],
                "message": d["message"],
            }
        )
    return [_python_result(messages[p.stem], code) for p, code in zip(files, codes, strict=True)]


def _python_result(messages: list[dict[str, Any]], code: str) -> dict[str, Any]:
    messages.sort(key=lambda m: (TYPES_BY_SEVERITY.index(m["type"]), m["line"]))
    severity = messages[0]["type"] if messages else "none"
    counts = {kind: sum(m["type"] == kind for m in messages) for kind in TYPES_BY_SEVERITY}
    return {
        "is_valid": severity in VALID_SEVERITIES,
        "python_linter_score": _score(counts, _statements(code)),
        "python_linter_severity": severity,
        "python_linter_messages": messages,
    }


def _score(counts: dict[str, int], statements: int) -> float:
    """pylint's evaluation, as Data Designer computes it: 0 with a fatal message, else
    ``10 - 10 * (5 * errors + warnings + refactors + conventions) / statements``, at least 0."""
    if counts["fatal"]:
        return 0.0
    weighted = 5 * counts["error"] + counts["warning"] + counts["refactor"] + counts["convention"]
    return max(0.0, 10.0 - weighted / max(1, statements) * 10)


def _statements(code: str) -> int:
    try:
        return sum(isinstance(node, ast.stmt) for node in ast.walk(ast.parse(code)))
    except (SyntaxError, ValueError):
        return 0

"""Languages and SQL dialects an ``llm-code`` column can ask for (Data Designer's ``CodeLang``)."""

from __future__ import annotations

from enum import StrEnum


class CodeLang(StrEnum):
    """A programming language, or ``sql:<dialect>``."""

    BASH = "bash"
    C = "c"
    COBOL = "cobol"
    CPP = "cpp"
    CSHARP = "csharp"
    GO = "go"
    JAVA = "java"
    JAVASCRIPT = "javascript"
    KOTLIN = "kotlin"
    PYTHON = "python"
    RUBY = "ruby"
    RUST = "rust"
    SCALA = "scala"
    SWIFT = "swift"
    TYPESCRIPT = "typescript"
    SQL_SQLITE = "sql:sqlite"
    SQL_TSQL = "sql:tsql"
    SQL_BIGQUERY = "sql:bigquery"
    SQL_MYSQL = "sql:mysql"
    SQL_POSTGRES = "sql:postgres"
    SQL_ANSI = "sql:ansi"

    @staticmethod
    def parse(value: str | CodeLang) -> tuple[str, str | None]:
        """``"sql:postgres"`` -> ``("sql", "postgres")``; ``"python"`` -> ``("python", None)``."""
        lang, _, dialect = str(value).partition(":")
        return lang, dialect or None

    @staticmethod
    def parse_lang(value: str | CodeLang) -> str:
        """The language part: ``"sql:postgres"`` -> ``"sql"``."""
        return CodeLang.parse(value)[0]

    @staticmethod
    def parse_dialect(value: str | CodeLang) -> str | None:
        """The dialect part, if any: ``"sql:postgres"`` -> ``"postgres"``."""
        return CodeLang.parse(value)[1]

    @staticmethod
    def supported_values() -> set[str]:
        """Every value an llm-code column accepts."""
        return {lang.value for lang in CodeLang}

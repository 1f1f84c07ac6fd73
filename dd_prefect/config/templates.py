"""Jinja templates: one sandboxed environment with bounded work, and the names a template reads.

Templates come from configs, and configs from anyone (a spec submitted from the UI), so a
render is bounded as well as sandboxed. Per render (:class:`TemplateRules`, from the run's
:class:`~dd_prefect.config.run_config.RunConfig`):

- output: the rendered text, every value built on the way (``'a' * n``, ``x ~ y``, a filter's
  or a method's result, ``{% set %}`` blocks) and every printed value is at most
  ``max_output_chars`` characters. Operations that would build more are refused *before*
  they run: repetition, powers, printf and ``format`` widths, ``center``/``ljust``/...,
  ``replace``, ``join``, ``indent``, ``wordwrap``, ``batch``, ``lipsum``.
- work: every loop iteration, call, filter and intercepted operator is a step, and building
  text costs a step per :data:`CHARS_PER_STEP` characters; at most ``max_steps``.

Going over raises :class:`TemplateLimitError`. Printing a null (None, NaN, <NA>) follows
``TemplateRules.null``: ``"empty"`` prints nothing, ``"error"`` raises
:class:`TemplateNullError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache, wraps
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import SandboxedEnvironment

from dd_prefect.config.template_guards import (
    CHARS_PER_STEP,
    DEFAULT_RULES,
    Budget,
    Counted,
    TemplateLimitError,
    TemplateNullError,
    TemplateRules,
    active_budget,
    check_binop,
    check_format,
    check_method,
    current_template_rules,
    end_render,
    guard_filter,
    is_null,
    lipsum,
    null_text,
    start_render,
    text_size,
    use_template_rules,
)

__all__ = [
    "DEFAULT_RULES",
    "Budget",
    "GuardedEnvironment",
    "TemplateLimitError",
    "TemplateNullError",
    "TemplateRules",
    "current_template_rules",
    "end_render",
    "is_null",
    "jinja_environment",
    "start_render",
    "strings_in",
    "template_references",
    "use_template_rules",
]


class _GuardedCodeGenerator(CodeGenerator):
    """Every ``{% for %}`` iterates through ``environment.dd_iterate``; ``~`` joins through
    ``environment.dd_join``."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in list(node.find_all(nodes.For)):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("dd_iterate"), [loop.iter], [], None, None
            ).set_lineno(loop.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            super().visit_Concat(node, frame)
            return
        self.write("environment.dd_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class GuardedEnvironment(SandboxedEnvironment):
    """The sandbox, with every render bounded (see the module docstring)."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._print, **options)
        self.filters = {name: guard_filter(name, f) for name, f in self.filters.items()}
        self.globals["lipsum"] = lipsum

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = active_budget()
        budget.step()
        check_binop(budget, operator, left, right)
        return budget.built(self.binop_table[operator](left, right))

    def call(
        __self,
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        budget = active_budget()
        budget.step()
        args = check_method(budget, __obj, args)
        return budget.built(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt, unchecked = value.__self__, wrapper

        @wraps(unchecked)
        def checked(*args: Any, **kwargs: Any) -> str:
            budget = active_budget()
            if value.__name__ == "format":
                check_format(budget, fmt, args, kwargs)
            result: str = budget.built(unchecked(*args, **kwargs))
            return result

        return checked

    def concat(self, parts: Iterable[str]) -> str:
        """Joins a render's (or a block's) output, refusing it past the cap."""
        budget, total, kept = active_budget(), 0, []
        cap = budget.cap
        for part in parts:
            total += len(part)
            if total > cap:
                budget.size(total, "the rendered text")
            kept.append(part)
        budget.step(total // CHARS_PER_STEP)
        return "".join(kept)

    def dd_join(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b``: the null rule, and the cap, before anything is built."""
        budget = active_budget()
        texts = [p if p.__class__ is str else null_text(budget) if is_null(p) else p for p in parts]
        budget.size(sum(text_size(t, budget.cap) for t in texts), "a text joined with ~")
        return "".join([t if t.__class__ is str else str(t) for t in texts])

    def dd_iterate(self, items: Any) -> Any:
        """What a ``{% for %}`` loops over, costing a step per item."""
        if isinstance(items, Undefined):
            return items
        return Counted(items, active_budget())

    def _print(self, value: Any) -> Any:
        """What ``{{ value }}`` prints: the null rule, and the cap before ``str()``."""
        if value.__class__ is str or isinstance(value, Undefined):
            return value
        budget = active_budget()
        if is_null(value):
            return null_text(budget)
        size = text_size(value, budget.cap)
        if size > 64:
            budget.size(size, "a printed value")
        return value


@lru_cache(maxsize=1)
def jinja_environment() -> GuardedEnvironment:
    """The sandboxed, bounded environment every template is parsed and rendered with.

    Templates can read row values and use filters; attribute access to Python internals
    (``''.__class__``) raises ``jinja2.exceptions.SecurityError``. Undefined names raise.
    """
    return GuardedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=4096)
def template_references(source: str) -> frozenset[str]:
    """Top-level names a template reads (``{{ question }}`` -> ``{"question"}``).

    Raises ``jinja2.TemplateSyntaxError`` for a template that does not parse.
    """
    ast = jinja_environment().parse(source)
    return frozenset(meta.find_undeclared_variables(ast))


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON-able value (for templates nested in dicts and lists)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings_in(item)]
    return []

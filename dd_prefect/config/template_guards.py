"""The bounds of one template render: the budget, and the checks the environment runs.

:mod:`dd_prefect.config.templates` builds the environment from these; see its docstring
for what is bounded. Per render, a :class:`Budget` (in a context variable) counts steps;
the checks refuse an operation *before* it builds more than ``max_output_chars``.
"""

from __future__ import annotations

import contextlib
import re
import string
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal

from jinja2.utils import generate_lorem_ipsum

from dd_prefect.config.run_config import RunConfig

CHARS_PER_STEP = 100
"""Building this many characters of text costs one step."""

MAX_INT_BITS = 65_536
"""The largest integer a template may compute (``10 ** 10 ** 10`` is refused)."""


class TemplateLimitError(Exception):
    """A render went over its output size or its steps (the message says which and why)."""


class TemplateNullError(Exception):
    """A template printed a null value under ``template_null="error"``."""


@dataclass(frozen=True)
class TemplateRules:
    """The bounds and the null rule of every render (see the module docstring)."""

    max_output_chars: int
    max_steps: int
    null: Literal["error", "empty"]

    @classmethod
    def of(cls, run_config: RunConfig) -> TemplateRules:
        return cls(
            max_output_chars=run_config.max_template_output_chars,
            max_steps=run_config.max_template_steps,
            null=run_config.template_null,
        )


DEFAULT_RULES = TemplateRules.of(RunConfig())

_rules: ContextVar[TemplateRules] = ContextVar("dd_prefect_template_rules", default=DEFAULT_RULES)
_budget: ContextVar[Budget | None] = ContextVar("dd_prefect_template_budget", default=None)


@contextlib.contextmanager
def use_template_rules(rules: TemplateRules) -> Iterator[None]:
    """Renders inside the block (and in tasks started inside it) follow `rules`."""
    token = _rules.set(rules)
    try:
        yield
    finally:
        _rules.reset(token)


def current_template_rules() -> TemplateRules:
    """The rules renders follow here (the defaults unless a block set others)."""
    return _rules.get()


_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)


class Budget:
    """What one render may still do; raises TemplateLimitError when it is spent."""

    __slots__ = ("cap", "max_steps", "rules", "steps")

    def __init__(self, rules: TemplateRules) -> None:
        self.rules = rules
        self.cap = rules.max_output_chars
        self.max_steps = rules.max_steps
        self.steps = 0

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise TemplateLimitError(
                f"the render took more than {self.rules.max_steps:,} steps (loop iterations, "
                f"calls, filters, operators; a step per {CHARS_PER_STEP} characters built); "
                "raise RunConfig.max_template_steps if the template is meant to do that much"
            )

    def size(self, n: int, what: str) -> None:
        """Account for `n` characters about to be built (`what` names them)."""
        if n > self.cap:
            raise TemplateLimitError(
                f"{what} would be {n:,} characters, over "
                f"RunConfig.max_template_output_chars ({self.cap:,})"
            )
        self.step(1 + n // CHARS_PER_STEP)

    def built(self, value: Any, what: str = "a value the template built") -> Any:
        """Account for a value just built (its length: cheap, not its printed size)."""
        if isinstance(value, _SIZED):
            n = len(value)
            if n > self.cap:
                self.size(n, what)
            self.step(1 + n // CHARS_PER_STEP)
        return value


def start_render() -> Token[Budget | None]:
    """Give the render about to start a fresh budget under the current rules; pass the
    token to :func:`end_render` when it is over."""
    return _budget.set(Budget(current_template_rules()))


def end_render(token: Token[Budget | None]) -> None:
    _budget.reset(token)


def active_budget() -> Budget:
    # Outside a render (constant folding while compiling): a fresh budget per operation.
    return _budget.get() or Budget(current_template_rules())


def is_null(value: Any) -> bool:
    """None, NaN, pandas' <NA> and NaT."""
    if value is None:
        return True
    if value.__class__ is str:
        return False
    if isinstance(value, float):
        return value != value
    return type(value).__name__ in ("NAType", "NaTType")


def text_size(value: Any, cap: int) -> int:
    """About how many characters ``str(value)`` has; stops counting once past `cap`.

    Every element counts at least one character, so cyclic containers stop too.
    """
    if value.__class__ is str:
        return len(value)
    total, stack = 0, [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
    return total


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _number(text: str, budget: Budget, what: str) -> None:
    budget.size(budget.cap + 1 if len(text) > 12 else int(text), what)


def _check_printf(budget: Budget, fmt: str, args: Any) -> None:
    """Refuse printf widths or precisions over the cap (``'%9999999999s' % x``)."""
    star = False
    for match in _PRINTF.finditer(fmt):
        for group in match.groups():
            if group == "*":
                star = True
            elif group:
                _number(group, budget, "a printf width or precision")
    if star:
        values = args if isinstance(args, tuple) else (args,)
        for value in values:
            if _is_int(value):
                budget.size(abs(value), "a printf width or precision")


def check_format(budget: Budget, fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse ``str.format`` widths or precisions over the cap (``'{:>9999999999}'``)."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # format() raises the same error itself
    for _, _, spec, _ in parsed:
        for digits in re.findall(r"\d+", spec or ""):
            _number(digits, budget, "a format width or precision")
        if spec and "{" in spec:
            for value in (*args, *kwargs.values()):
                if _is_int(value):
                    budget.size(abs(value), "a format width or precision")


def check_binop(budget: Budget, operator: str, left: Any, right: Any) -> None:
    sized = (str, bytes, list, tuple)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if _is_int(times) and isinstance(seq, sized):
                budget.size(len(seq) * max(times, 0), f"{type(seq).__name__} * {times:,}")
        if (
            _is_int(left)
            and _is_int(right)
            and left.bit_length() + right.bit_length() > MAX_INT_BITS
        ):
            raise TemplateLimitError(f"a product over {MAX_INT_BITS:,} bits")
    elif operator == "**":
        if (
            _is_int(left)
            and _is_int(right)
            and right > 0
            and abs(left) > 1
            and (right > MAX_INT_BITS or right * abs(left).bit_length() > MAX_INT_BITS)
        ):
            raise TemplateLimitError(f"a power over {MAX_INT_BITS:,} bits")
    elif operator == "%" and isinstance(left, str):
        _check_printf(budget, left, right)
    elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
        budget.size(len(left) + len(right), "a sum")


def _replaced_size(text: Any, old: Any, new: Any, count: Any) -> int:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return 0
    hits = text.count(old) if old else len(text) + 1
    if _is_int(count) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(0, len(new) - len(old))


def _joined(budget: Budget, items: Any, sep: Any) -> list[Any]:
    """`items` as a list, refusing a join that would be over the cap."""
    listed = list(items)
    budget.step(1 + len(listed) // CHARS_PER_STEP)
    gaps = len(sep) * max(0, len(listed) - 1) if isinstance(sep, str) else 0
    budget.size(gaps + text_size(listed, budget.cap), "a joined text")
    return listed


def check_method(budget: Budget, obj: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse str methods that would build over the cap; returns the args to call with."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str | bytes | bytearray) or not args:
        return args
    what = f"str.{name}()"
    if name in ("ljust", "rjust", "center", "zfill") and _is_int(args[0]):
        budget.size(max(len(owner), args[0]), what)
    elif name == "expandtabs" and _is_int(args[0]):
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        budget.size(len(owner) + tabs * args[0], what)
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else -1
        budget.size(_replaced_size(owner, args[0], args[1], count), what)
    elif name == "join":
        return (_joined(budget, args[0], owner), *args[1:])
    return args


# Filters that turn their value into text (the printed size of a list counts), and what
# else each may build.
_TEXT_FILTERS = frozenset(
    {
        "capitalize",
        "center",
        "e",
        "escape",
        "forceescape",
        "format",
        "indent",
        "lower",
        "pprint",
        "replace",
        "safe",
        "string",
        "striptags",
        "title",
        "tojson",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "urlize",
        "wordcount",
        "wordwrap",
        "xmlattr",
    }
)
_NULL_AS_TEXT = _TEXT_FILTERS - {"tojson", "pprint"}


def _arg(params: list[Any], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return params[i] if len(params) > i else kwargs.get(name, default)


def _check_filter(budget: Budget, name: str, params: list[Any], kwargs: dict[str, Any]) -> None:
    """Refuse a filter call that would build over the cap; may rewrite params in place."""
    if not params:
        return
    value = params[0]
    if name in _NULL_AS_TEXT and is_null(value):
        params[0] = value = null_text(budget)
    rest = params[1:]
    if name in _TEXT_FILTERS:
        n = text_size(value, budget.cap)
        budget.size(n, f"the text of the '{name}' filter")
        _check_text_filter(budget, name, value, n, rest, kwargs)
    elif name == "join":
        params[0] = _joined(budget, value, _arg(rest, kwargs, 0, "d", ""))
    elif name == "batch" and _arg(rest, kwargs, 1, "fill_with", None) is not None:
        linecount = _arg(rest, kwargs, 0, "linecount", 0)
        budget.size(linecount if _is_int(linecount) else 0, "the 'batch' filter's fill")
    elif name == "slice":
        slices = _arg(rest, kwargs, 0, "slices", 0)
        budget.step(slices if _is_int(slices) and slices > 0 else 0)
    elif name == "sum" and not _is_int(_arg(rest, kwargs, 1, "start", 0)):
        items = params[0] = list(value)  # adding lists or tuples: quadratic work
        budget.step(len(items) * text_size(items, budget.cap) // CHARS_PER_STEP)


def _check_text_filter(
    budget: Budget, name: str, value: Any, n: int, rest: list[Any], kwargs: dict[str, Any]
) -> None:
    """Text filters that can build more than they were given."""
    what = f"the '{name}' filter's text"
    if name == "center":
        width = _arg(rest, kwargs, 0, "width", 80)
        budget.size(max(n, width) if _is_int(width) else n, what)
    elif name == "indent":
        width = _arg(rest, kwargs, 0, "width", 4)
        pad = width if _is_int(width) else len(width) if isinstance(width, str) else 0
        budget.size(n + pad * (str(value).count("\n") + 1), what)
    elif name == "wordwrap":
        width = _arg(rest, kwargs, 0, "width", 79)
        wrap = _arg(rest, kwargs, 2, "wrapstring", None) or "\n"
        budget.size(n + len(str(wrap)) * (n // max(1, width if _is_int(width) else 1) + 1), what)
    elif name == "format" and isinstance(value, str):
        _check_printf(budget, value, tuple(rest) or tuple(kwargs.values()))
    elif name == "replace":
        old, new = _arg(rest, kwargs, 0, "old", ""), _arg(rest, kwargs, 1, "new", "")
        budget.size(_replaced_size(value, old, new, _arg(rest, kwargs, 2, "count", None)), what)


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(func, "jinja_pass_arg", None) is not None

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = active_budget()
        budget.step()
        head, params = (list(args[:1]), list(args[1:])) if passes else ([], list(args))
        _check_filter(budget, name, params, kwargs)
        return budget.built(func(*head, *params, **kwargs), f"the '{name}' filter's result")

    return guarded


def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    budget = active_budget()
    budget.size(n * max * 12 if _is_int(n) and _is_int(max) else 0, "lipsum()")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


def null_text(budget: Budget) -> str:
    if budget.rules.null == "empty":
        return ""
    raise TemplateNullError("the template prints a null value")


class Counted:
    """An iterable whose iteration costs a step per item (every ``{% for %}``)."""

    __slots__ = ("_budget", "_items")

    def __init__(self, items: Iterable[Any], budget: Budget) -> None:
        self._items, self._budget = items, budget

    def __len__(self) -> int:
        return len(self._items)  # type: ignore[arg-type]  # TypeError: loop.length counts

    def __iter__(self) -> Iterator[Any]:
        for item in self._items:
            self._budget.step()
            yield item

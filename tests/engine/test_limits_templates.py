"""Templates can't exhaust the machine: output size and work are bounded per render, the
limits come from RunConfig, and a run fails fast naming the column (issue 10, item 3)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.engine.templating import render, template_rules
from dd_prefect.errors import CellError

REPO = Path(__file__).resolve().parents[2]

HOSTILE = {
    "repeat": "{{ 'a' * 10**10 }}",
    "repeat_list": "{{ [1] * 10**10 }}",
    "power": "{{ 7 ** 1000000 }}",
    "printf_width": "{{ '%10000000000s' % 1 }}",
    "printf_star": "{{ '%*s' % (10000000000, 1) }}",
    "format_width": "{{ '{:>10000000000}'.format(1) }}",
    "format_nested": "{{ '{:>{}}'.format(1, 10000000000) }}",
    "center": "{{ 'x' | center(10000000000) }}",
    "ljust": "{{ 'x'.ljust(10000000000) }}",
    "doubling": "{% set ns = namespace(s='ab') %}"
    "{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "doubling_plus": "{% set ns = namespace(s='ab') %}"
    "{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
    "replace": "{{ ('a' * 100000) | replace('a', 'b' * 100000) }}",
    "join": "{{ range(100000) | join('x' * 100000) }}",
    "lipsum": "{{ lipsum(100000000) }}",
    "batch_fill": "{{ [1] | batch(1000000000, 0) | list | length }}",
    "indent": "{{ 'x\nx' | indent(10000000000) }}",
    "print_list": "{% set l = ['a' * 100000] * 100 %}{{ l }}",
    "nested_loops": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}"
    "{% endfor %}",
    "silent_loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
    "{% endfor %}",
    "exponential_macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(40) }}",
    "set_block": "{% set s %}{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}{% endset %}"
    "{{ s | length }}",
    "appends": "{% set l = [] %}{% for i in range(100000) %}{% set _ = l.append('z' * 100000) %}"
    "{% endfor %}{{ l | length }}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_templates_fail_fast_naming_the_column(name: str) -> None:
    began = time.monotonic()
    with pytest.raises(CellError) as info:
        render(HOSTILE[name], {}, column="greedy")
    assert time.monotonic() - began < 2.0
    assert info.value.kind == "template_limit"
    assert str(info.value).startswith("column 'greedy': template limit: ")


LEGIT = {
    "{% for i in range(1000) %}{{ i }},{% endfor %}": 3890,
    "{{ doc }}": 500_000,
    "{{ doc | upper | replace('A', 'b') | trim | truncate(100) }}": 100,
    "{% for x in items %}{{ loop.index }}/{{ loop.length }} {{ x | upper }} {% endfor %}": 18,
    "{{ '%5.2f' % 3.14159 }} {{ '{:>8}'.format('x') }} {{ '%s-%s' | format(1, 2) }}": 18,
    "{{ items | join(', ') }} {{ ', '.join(items) }} {{ items[0] ~ '-' ~ n }}": 19,
    "{% for x in tree recursive %}{{ x.n }}{% if x.c %}({{ loop(x.c) }}){% endif %}{% endfor %}": 4,
    "{% macro f(x) %}<{{ x }}>{% endmacro %}{% for i in range(10) %}{{ f(i) }}{% endfor %}": 30,
    "{{ 2 ** 100 }} {{ person }}": 31 + 1 + 25,
}


@pytest.mark.parametrize("source", sorted(LEGIT))
def test_ordinary_templates_still_render(source: str) -> None:
    row = {
        "doc": "a" * 500_000,
        "items": ["x", "y", "z"],
        "n": 2,
        "person": {"name": "Ann", "age": 3},
        "tree": [{"n": 1, "c": [{"n": 2, "c": []}]}],
    }
    assert len(render(source, row, column="c")) == LEGIT[source]


def test_the_limits_come_from_the_run_config() -> None:
    small = dd.RunConfig(max_template_output_chars=10, max_template_steps=50)
    loop = "{% for i in range(60) %}{% endfor %}ok"
    assert render("{{ 'x' * 11 }}", {}, column="c") == "x" * 11
    assert render(loop, {}, column="c") == "ok"
    with template_rules(small):
        with pytest.raises(CellError, match=r"over RunConfig.max_template_output_chars \(10\)"):
            render("{{ 'x' * 11 }}", {}, column="c")
        with pytest.raises(CellError, match="more than 50 steps"):
            render(loop, {}, column="c")
        with pytest.raises(CellError, match="rendered text would be 11 characters"):
            render("{{ v }}", {"v": "y" * 11}, column="c")
        assert render("{{ 'x' * 10 }}", {}, column="c") == "x" * 10


async def test_a_run_renders_under_its_run_config(tmp_path: Path) -> None:
    """The generator renders under its own RunConfig's limits (any caller, no runtime)."""
    loop = "{% for i in range(30) %}{% endfor %}ok"
    b = dd.DataDesignerConfigBuilder().add_column(name="c", column_type="expression", expr=loop)
    for steps, expected in ((20, {"template_limit": 2}), (100, {})):
        run = dd.RunConfig(max_template_steps=steps, on_cell_error="null")
        async with ModelRegistry([], []) as registry:
            result = await DatasetGenerator(b.build(), run, registry).generate(0, 0, 2)
        assert result.errors == expected
    assert render(loop, {}, column="c") == "ok"  # outside a run: the defaults


# In a child process (its address space capped at 3 GB, so that the unbounded behaviour
# fails fast instead of swapping the machine): the whole engine, the mock LLM behind the
# real openai client, and the hostile template in an expression or in an LLM prompt.
SCRIPT = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    import dd_prefect.config as dd
    from dd_prefect.engine.generator import DatasetGenerator
    from dd_prefect.engine.llm import ModelRegistry, RetryPolicy
    from dd_prefect.errors import EarlyShutdownError
    from dd_prefect.testing import MockLLMServer

    column_type, template = sys.argv[1], sys.argv[2]

    async def main():
        with MockLLMServer() as server:
            model = dd.ModelConfig(alias="fast", model="mock-model", provider="mock")
            b = dd.DataDesignerConfigBuilder(model_configs=[model])
            b.add_column(name="topic", column_type="sampler", sampler_type="category",
                         params={"values": ["cats", "dogs"]})
            if column_type == "expression":
                b.add_column(name="greedy", column_type="expression", expr=template)
            else:
                b.add_column(name="greedy", column_type="llm-text", model_alias="fast",
                             prompt=template)
            config = b.build()
            provider = dd.ModelProvider(name="mock", endpoint=server.url)
            async with ModelRegistry([provider], config.model_configs,
                                     retry=RetryPolicy(max_retries=0)) as registry:
                gen = DatasetGenerator(config, dd.RunConfig(), registry)
                began = time.monotonic()
                try:
                    result = await gen.generate(0, 0, 40)
                    out = {"errors": result.errors}
                except EarlyShutdownError as exc:
                    out = {"shutdown": str(exc)}
                out["seconds"] = time.monotonic() - began
            out["requests"] = server.stats()["requests"]
        status = open("/proc/self/status").read()
        out["vmhwm_mb"] = int(status.split("VmHWM:")[1].split()[0]) / 1024
        print(json.dumps(out))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(
    "column_type, template",
    [
        ("expression", "{{ 'a' * 10**10 }}"),
        (
            "llm-text",
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        ),
    ],
    ids=["repeat-in-expression", "nested-loops-in-prompt"],
)
def test_a_run_with_a_hostile_template_stops_early_in_bounded_memory(column_type, template):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, column_type, template],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(column_type, out)
    assert "shutdown" in out, out  # every cell fails: early shutdown after the window
    assert "column 'greedy': template limit" in out["shutdown"]
    assert out["requests"] == 0  # no prompt was ever sent
    assert out["seconds"] < 15
    assert out["vmhwm_mb"] < 500

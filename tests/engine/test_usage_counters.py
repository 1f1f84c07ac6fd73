"""LLM usage: per-model counters equal the mock's own (requests, 429s, 5xx, tokens), prices
give a cost, budgets say which one is reached; prices and budgets change no key."""

from __future__ import annotations

import dataclasses

import pytest

import dd_prefect.config as dd
from dd_prefect.config.data_designer_config import DataDesignerConfig
from dd_prefect.engine.llm import USAGE_COUNTERS
from dd_prefect.errors import ConfigValidationError
from dd_prefect.workflow.budget import Spend, budget_reached, check_prices
from dd_prefect.workflow.keys import dataset_key
from dd_prefect.workflow.usage import ModelUsage, Usage, added, spent_since
from tests.engine.conftest import model
from tests.engine.test_failures import llm_builder


async def test_counters_equal_the_mocks_under_429s_and_500s(mock_llm_factory, make_generator):
    server = mock_llm_factory(rate_429=0.2, rate_500=0.1, seed=3)
    gen = make_generator(llm_builder(max_parallel_requests=8), server)
    result = await gen.generate(0, 0, 40)
    stats = server.stats()
    usage = gen.models.usage["mock/mock-model"]
    assert result.num_rows == 40
    assert usage.requests == stats["requests"]
    assert usage.successes == stats["by_status"]["200"] == 40
    assert usage.rate_limited == stats["by_status"]["429"] > 0
    assert usage.server_errors == stats["by_status"]["500"] > 0
    assert usage.retries == usage.rate_limited + usage.server_errors
    assert usage.prompt_tokens == stats["prompt_tokens"]
    assert usage.completion_tokens == stats["completion_tokens"]
    assert usage.request_seconds > 0 and usage.timeouts == 0


def test_cost_adds_up_and_an_unpriced_attempt_leaves_it_unknown():
    priced = {
        "p/m": {"requests": 2, "prompt_tokens": 1_000_000, "completion_tokens": 0, "cost": 3.0}
    }
    more = {"p/m": {"requests": 1, "prompt_tokens": 0, "completion_tokens": 500_000, "cost": 5.0}}
    total = added(priced, more)
    assert total["p/m"]["requests"] == 3 and total["p/m"]["cost"] == 8.0
    unpriced = {"p/m": {"requests": 1, "prompt_tokens": 10, "completion_tokens": 0}}
    assert "cost" not in added(total, unpriced)["p/m"]
    usage = Usage.of(total, more, 1.5)
    assert usage.requests == 3 and usage.cost == 8.0
    assert usage.models["p/m"].total_tokens == 1_500_000
    assert "cost 8.0000" in usage.lines()[0]
    assert (usage + usage).requests == 6 and (usage + usage).cost == 16.0


def test_spent_since_prices_tokens_per_million():
    from dd_prefect.engine.llm import LLMUsage

    now = {"p/m": LLMUsage(requests=4, prompt_tokens=2_000_000, completion_tokens=1_000_000)}
    spent = spent_since({}, now, ["p/m"], {"p/m": (0.5, 2.0)})
    assert spent["p/m"]["cost"] == pytest.approx(3.0)


def test_budgets_name_what_was_reached():
    spend = Spend.of({"p/m": {"requests": 10, "prompt_tokens": 70, "completion_tokens": 30}})
    assert spend.cost is None and spend.tokens == 100
    assert budget_reached(dd.RunConfig(max_requests=11), spend) is None
    assert budget_reached(dd.RunConfig(max_requests=10), spend) == "max_requests=10"
    assert budget_reached(dd.RunConfig(max_tokens=100), spend) == "max_tokens=100"
    assert budget_reached(dd.RunConfig(max_cost=0.01), spend) is None  # unknown cost
    priced = Spend.of({"p/m": {"requests": 1, "prompt_tokens": 5, "cost": 0.5}})
    assert budget_reached(dd.RunConfig(max_cost=0.5), priced) == "max_cost=0.5"


def test_max_cost_needs_prices_on_every_model_used():
    b = llm_builder()
    b.model_configs.append(model("unused"))
    with pytest.raises(ConfigValidationError, match="model 'fast' has no input_price"):
        check_prices(dd.RunConfig(max_cost=1.0), b.build())
    check_prices(dd.RunConfig(), b.build())
    b.model_configs[0].input_price_per_million_tokens = 1.0
    b.model_configs[0].output_price_per_million_tokens = 2.0
    check_prices(dd.RunConfig(max_cost=1.0), b.build())  # "unused" needs none


def test_prices_and_budgets_change_no_key_and_stay_out_of_dd_files_when_unset():
    plain = llm_builder().build()
    priced_model = plain.model_configs[0].model_copy(
        update={"input_price_per_million_tokens": 0.1, "output_price_per_million_tokens": 0.4}
    )
    priced = plain.model_copy(update={"model_configs": [priced_model]})
    assert priced.fingerprint() == plain.fingerprint()
    budget = dd.RunConfig(max_cost=1.0, max_tokens=5, max_requests=3)
    assert dataset_key(plain.fingerprint(), 10, budget, name="d") == dataset_key(
        plain.fingerprint(), 10, dd.RunConfig(), name="d"
    )
    assert "input_price_per_million_tokens" not in str(plain.to_dict())
    kept = priced.to_dict()
    assert "input_price_per_million_tokens" in str(kept)
    assert DataDesignerConfig.model_validate(kept).model_configs[0] == priced_model


def test_preview_estimates_a_full_runs_usage_and_cost(mock_llm, tmp_path):
    from dd_prefect import DataDesigner

    b = llm_builder()
    m = b.model_configs[0]
    m.input_price_per_million_tokens, m.output_price_per_million_tokens = 2.0, 8.0
    d = DataDesigner(
        artifact_path=tmp_path,
        model_providers=[dd.ModelProvider(name="mock", endpoint=mock_llm.url)],
    )
    preview = d.preview(b, num_records=8)
    stats = mock_llm.stats()
    (used,) = preview.usage.models.values()
    assert used.requests == stats["requests"] == 8
    assert used.cost == pytest.approx(
        (stats["prompt_tokens"] * 2.0 + stats["completion_tokens"] * 8.0) / 1e6
    )
    guess = preview.estimate_usage(800)
    assert guess.requests == 800 and guess.prompt_tokens == stats["prompt_tokens"] * 100
    assert guess.cost == pytest.approx(used.cost * 100)
    assert str(guess).startswith("estimate for 800 records (scaled from a preview of 8)")


def test_the_typed_usage_has_every_counter_the_engine_keeps():
    """ModelUsage (what results give) declares the engine's counters, no more, no fewer."""
    declared = {f.name for f in dataclasses.fields(ModelUsage)} - {"model", "cost"}
    assert declared == set(USAGE_COUNTERS)

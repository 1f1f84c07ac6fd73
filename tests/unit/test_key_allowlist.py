"""A spec's api_key may name only environment variables the worker allows (issue 10, item 10).

Default: names ending ``_API_KEY`` or ``_TOKEN`` (never Prefect's own ``PREFECT_*``);
``DD_PREFECT_ALLOWED_KEY_VARIABLES`` on the worker widens it; a Prefect Secret block is
always fine. Anything else is refused before any request, naming the provider and the
variable, never its value.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

import dd_prefect.config as dd
from dd_prefect import cli
from dd_prefect.config.models import key_variable_allowed
from dd_prefect.engine.llm import ModelRegistry, RetryPolicy, resolve_api_key
from dd_prefect.errors import ConfigValidationError, GenerationError
from dd_prefect.orchestration.runtime import Runtime
from dd_prefect.orchestration.settings import Settings

VALUE = "value-of-a-worker-variable-31337"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def builder() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(
        model_configs=[dd.ModelConfig(alias="m", model="mock-model", provider="keyed")]
    )
    b.add_column(name="a", column_type="llm-text", model_alias="m", prompt="Say hi")
    return b


async def ask(provider: dd.ModelProvider, allowed: list[str] | None = None) -> str:
    config = builder().build()
    async with ModelRegistry(
        [provider],
        config.model_configs,
        retry=RetryPolicy(max_retries=0),
        allowed_key_variables=allowed or [],
    ) as registry:
        return await registry.handle("m").complete([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    "name, allowed",
    [
        ("OPENAI_API_KEY", True),
        ("NVIDIA_API_KEY", True),
        ("HF_TOKEN", True),
        ("PREFECT_HOME", False),
        ("PREFECT_API_KEY", False),  # Prefect's own credentials, even though it ends _API_KEY
        ("PREFECT_API_URL", False),
        ("HOME", False),
        ("AWS_SECRET_ACCESS_KEY", False),
        ("API_KEY_FILE", False),
    ],
)
def test_default_allowlist(name: str, allowed: bool) -> None:
    assert key_variable_allowed(name) is allowed


def test_worker_patterns_widen_the_default() -> None:
    assert key_variable_allowed("CORP_SECRET", ["CORP_*"])
    assert key_variable_allowed("PREFECT_API_KEY", ["PREFECT_API_KEY"])
    assert key_variable_allowed("OPENAI_API_KEY", ["CORP_*"])  # never narrows
    assert not key_variable_allowed("HOME", ["CORP_*"])


async def test_a_disallowed_variable_is_never_sent(mock_llm, monkeypatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", VALUE)
    provider = dd.ModelProvider(name="keyed", endpoint=mock_llm.url, api_key="PREFECT_HOME")
    with pytest.raises(GenerationError) as info:
        await ask(provider)
    message = str(info.value)
    assert "provider 'keyed'" in message and "PREFECT_HOME" in message
    assert VALUE not in message
    assert mock_llm.stats()["requests"] == 0
    with pytest.raises(GenerationError, match="PREFECT_HOME"):
        resolve_api_key(provider)


async def test_allowed_variables_are_sent(mock_llm, monkeypatch) -> None:
    monkeypatch.setenv("DD_TEST_API_KEY", "sk-default-allowed")
    monkeypatch.setenv("CORP_LLM_SECRET", "sk-widened")
    await ask(dd.ModelProvider(name="keyed", endpoint=mock_llm.url, api_key="DD_TEST_API_KEY"))
    widened = dd.ModelProvider(name="keyed", endpoint=mock_llm.url, api_key="CORP_LLM_SECRET")
    with pytest.raises(GenerationError, match="CORP_LLM_SECRET"):
        await ask(widened)
    await ask(widened, allowed=["CORP_*"])
    assert mock_llm.stats()["auth"] == {
        key_hash("sk-default-allowed"): 1,
        key_hash("sk-widened"): 1,
    }


def test_settings_read_the_worker_patterns(monkeypatch) -> None:
    monkeypatch.delenv("DD_PREFECT_ALLOWED_KEY_VARIABLES", raising=False)
    assert Settings().allowed_key_variables == []
    monkeypatch.setenv("DD_PREFECT_ALLOWED_KEY_VARIABLES", "CORP_*, MY_KEY")
    assert Settings().allowed_key_variables == ["CORP_*", "MY_KEY"]
    monkeypatch.setenv("DD_PREFECT_ALLOWED_KEY_VARIABLES", '["A_*"]')
    assert Settings().allowed_key_variables == ["A_*"]


def test_check_providers_refuses_before_anything_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", VALUE)
    monkeypatch.delenv("DD_PREFECT_ALLOWED_KEY_VARIABLES", raising=False)
    provider = dd.ModelProvider(name="keyed", endpoint="http://x.test/v1", api_key="PREFECT_HOME")
    runtime = Runtime(artifact_path=tmp_path, providers=[provider])
    with pytest.raises(ConfigValidationError) as info:
        runtime.check_providers(builder().build())
    message = str(info.value)
    assert "provider 'keyed'" in message and "PREFECT_HOME" in message and VALUE not in message
    # The worker (never the spec) may allow it.
    monkeypatch.setenv("DD_PREFECT_ALLOWED_KEY_VARIABLES", "PREFECT_HOME")
    Runtime(artifact_path=tmp_path, providers=[provider]).check_providers(builder().build())
    # A secret block is always fine.
    secret = provider.model_copy(update={"api_key": "secret:llm-key"})
    monkeypatch.delenv("DD_PREFECT_ALLOWED_KEY_VARIABLES")
    Runtime(artifact_path=tmp_path, providers=[secret]).check_providers(builder().build())


def test_validate_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PREFECT_HOME", VALUE)
    monkeypatch.delenv("DD_PREFECT_ALLOWED_KEY_VARIABLES", raising=False)
    spec = {
        "name": "leak",
        "num_records": 2,
        "model_providers": [
            {"name": "keyed", "endpoint": "http://x.test/v1", "api_key": "PREFECT_HOME"}
        ],
        "config": {
            "model_configs": [{"alias": "m", "model": "mock-model", "provider": "keyed"}],
            "columns": [
                {"name": "a", "column_type": "llm-text", "model_alias": "m", "prompt": "x"}
            ],
        },
    }
    path = tmp_path / "leak.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "provider 'keyed'" in err and "PREFECT_HOME" in err and VALUE not in err

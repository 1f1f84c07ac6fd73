"""Example workflows written with the builder API (the bundled example flows run these)."""

from __future__ import annotations

from pathlib import Path

import dd_prefect.config as dd
from dd_prefect.interface import CompositeWorkflow, DataDesigner

PASSAGES = Path(__file__).resolve().parents[2] / "deployments" / "data" / "passages.jsonl"


def provider(endpoint: str | None, api_key_env: str | None) -> dd.ModelProvider:
    """An OpenAI-compatible provider, or the bundled mock server when `endpoint` is None."""
    if endpoint is None:
        return dd.ModelProvider(name="llm", provider_type="mock")
    return dd.ModelProvider(name="llm", endpoint=endpoint, api_key=api_key_env)


def doc_qa(
    designer: DataDesigner, model: str, num_records: int, passages: Path
) -> CompositeWorkflow:
    """Seed 002's doc-qa: passages -> question/answer drafts -> chatml records."""
    fast = dd.ModelConfig(alias="fast", model=model, provider="llm")
    drafts = (
        dd.DataDesignerConfigBuilder(model_configs=[fast])
        .with_seed_dataset(dd.LocalFileSeedSource(path=str(passages)))
        .add_column(
            name="chunk_summary",
            column_type="llm_text",
            model_alias="fast",
            prompt="Summarize this passage:\n\n{{ text }}",
        )
        .add_column(
            name="question",
            column_type="llm_text",
            model_alias="fast",
            prompt="Write a question about this passage:\n\n{{ chunk_summary }}",
        )
        .add_column(
            name="answer",
            column_type="llm_text",
            model_alias="fast",
            prompt="Answer {{ question }} using this passage:\n\n{{ text }}",
        )
    )
    chatml = dd.DataDesignerConfigBuilder().add_processor(
        dd.SchemaTransformProcessorConfig(
            name="chatml",
            template={
                "messages": [
                    {"role": "user", "content": "{{ question }}"},
                    {"role": "assistant", "content": "{{ answer }}"},
                ]
            },
        )
    )
    return (
        designer.compose_workflow(name="doc-qa")
        .add_stage(
            "drafts",
            drafts,
            num_records=num_records,
            output_processors=[
                dd.DropColumnsProcessorConfig(
                    name="drop_scratch", column_names=["text", "chunk_summary"]
                )
            ],
        )
        .add_stage("chatml", chatml, output="processor:chatml")
    )


def personas(designer: DataDesigner, model: str, num_personas: int) -> CompositeWorkflow:
    """Personas from samplers -> five conversations each -> an LLM judge."""
    chat = dd.ModelConfig(alias="chat", model=model, provider="llm")
    people = (
        dd.DataDesignerConfigBuilder()
        .add_column(
            name="person", column_type="sampler", sampler_type="person", params={"locale": "en_US"}
        )
        .add_column(
            name="goal",
            column_type="sampler",
            sampler_type="category",
            params={"values": ["book a flight", "return a jacket", "reset a password"]},
        )
    )
    conversations = dd.DataDesignerConfigBuilder(model_configs=[chat]).add_column(
        name="conversation",
        column_type="llm-text",
        model_alias="chat",
        system_prompt="You write realistic customer-support chats.",
        prompt="Write a short chat where {{ person.first_name }} wants to {{ goal }}.",
    )
    judged = dd.DataDesignerConfigBuilder(model_configs=[chat]).add_column(
        dd.LLMJudgeColumnConfig(
            name="judgement",
            model_alias="chat",
            prompt="Rate this support chat:\n{{ conversation }}",
            scores=[
                dd.Score(
                    name="helpfulness",
                    description="Did the agent resolve the request?",
                    options={1: "no", 2: "partly", 3: "fully"},
                )
            ],
        )
    )
    return (
        designer.compose_workflow(name="personas")
        .add_stage("personas", people, num_records=num_personas)
        .add_stage("conversations", conversations, num_records=5 * num_personas)
        .add_stage("judged", judged)
    )

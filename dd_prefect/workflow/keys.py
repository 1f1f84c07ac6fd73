"""Identities of what runs produce: dataset keys, stage fingerprints, row-group keys.

Two runs with equal keys produce equal outputs, so the later one may reuse the earlier
one's. Keys cover content, never paths (a moved tree still resumes), and leave out
operational knobs (``max_parallel_requests``, timeouts) that change no row.
"""

from __future__ import annotations

from dd_prefect._version import __version__
from dd_prefect.config.fingerprint import digest
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.seeds import LocalFileSeedSource, seed_files_digest
from dd_prefect.config.stage import Stage


def dataset_key(
    config_fingerprint: str,
    num_records: int,
    run_config: RunConfig,
    *,
    name: str,
    seed_digest: str | None = None,
) -> str:
    """Identity of a dataset's row groups: what they contain and how rows are split.

    Row group `i` of two runs with the same key holds the same rows (with a seed, the very
    same values), so a finished one can be reused instead of generated again. The dataset
    name keeps two datasets of one config apart; `seed_digest` notices an edited seed file.
    """
    return digest(
        {
            "name": name,
            "seed_files": seed_digest,
            "config": config_fingerprint,
            "num_records": num_records,
            "buffer_size": run_config.buffer_size,
            "seed": run_config.seed,
            "on_cell_error": run_config.on_cell_error,
            "template_null": run_config.template_null,
            "version": __version__,
        }
    )[:32]


def own_seed_path(stage: Stage) -> str | None:
    """The path of a stage's own local seed (a root stage's), else None."""
    seed = stage.config.seed_config
    return seed.source.path if seed and isinstance(seed.source, LocalFileSeedSource) else None


def upstream_identity(stage: Stage, handoffs: list[str]) -> str | None:
    """What a stage's input is made of: its one upstream's handoff (a linear stage, as
    before joins existed), or for a joining stage the handoffs of its non-empty upstreams
    in ``depends_on`` order with the join and its version. None for a root stage."""
    if stage.join is None:
        return handoffs[0] if handoffs else None
    return digest(
        {
            "upstreams": handoffs,
            "join": stage.join.model_dump(mode="json"),
            "join_version": stage.join_version,
        }
    )


def stage_fingerprint(
    stage: Stage,
    num_records: int | None,
    upstream: str | None,
    run_config: RunConfig,
    *,
    root: bool,
) -> str:
    """Identity of a stage's output: config, size, strategies, callback version, selection
    of output, library version, the upstream stage's handed-on fingerprint, the run
    settings that change rows (seed, on_cell_error, template_null) and a root stage's own
    seed files. A joining stage's `upstream` is :func:`upstream_identity` and its
    `num_records` the one asked for (None: its joined input's rows)."""
    return digest(
        {
            "config": stage.config.fingerprint(),
            "seed": run_config.seed,
            "on_cell_error": run_config.on_cell_error,
            "template_null": run_config.template_null,
            "seed_files": seed_files_digest(stage.config.seed_config) if root else None,
            "num_records": num_records,
            "sampling_strategy": str(stage.sampling_strategy),
            "selection_strategy": (
                stage.selection_strategy.model_dump(mode="json")
                if stage.selection_strategy
                else None
            ),
            "allow_empty": stage.allow_empty,
            "on_success": stage.callback_name,
            "on_success_version": stage.on_success_version,
            "output_processors": [p.model_dump(mode="json") for p in stage.output_processors],
            "output": stage.output,
            "version": __version__,
            "upstream": upstream,
        }
    )


def handoff_fingerprint(fingerprint: str, content: str | None) -> str:
    """What a stage hands on: its fingerprint and the content digest of the output it hands
    on (its own or an override's), so an output edited by hand, or regenerated with other
    values, reruns the stages after it."""
    return digest([fingerprint, content])


def stage_rows_key(stage: Stage, index: int, upstream: str | None, *, root: bool) -> str:
    """The generator fingerprint of a stage's rows (its row groups are keyed by it).

    The seed is the stage's own only for a root stage; a later stage's input is covered by
    `upstream` (its content), not by its path, so a moved workflow still resumes.
    """
    seed = stage.config.seed_config
    own_seed = (
        [
            seed.model_dump(mode="json", exclude={"source"}),
            seed_files_digest(seed),
            own_seed_path(stage),
        ]
        if root and seed is not None
        else None
    )
    return digest(
        [
            stage.config.model_copy(update={"seed_config": None}).fingerprint(),
            str(stage.sampling_strategy),
            stage.selection_strategy.model_dump() if stage.selection_strategy else None,
            own_seed,
            stage.name,
            upstream,
            index,
        ]
    )

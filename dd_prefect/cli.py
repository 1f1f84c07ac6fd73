"""The ``dd-prefect`` command line.

    dd-prefect run SPEC.yaml [--artifact-path DIR] [--resume never|if_possible|always] [-n N]
    dd-prefect validate SPEC.yaml
    dd-prefect preview SPEC.yaml [-n N] [--stage NAME]
    dd-prefect mock-llm [--port P] [--latency S] ...   (the bundled mock LLM server)

SPEC is a workflow spec (``stages:``), a dataset spec (``config:``) or a plain config.

Errors are always ONE line on stderr, ``dd-prefect: error: ...``, never a traceback:

- exit 2: bad input -- a bad argument, an invalid spec (ConfigValidationError) or a resume
  that is not possible (ResumeError); found before any LLM call and before anything is
  written (an invalid config met later, e.g. behind an on_success callback, also exits 2);
- exit 1: anything else failed, reported as ``<ExceptionType>: <message>``;
- exit 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_EXIT_BAD_INPUT = 2
_EXIT_FAILED = 1
_EXIT_INTERRUPTED = 130

# Rows each stage BEFORE the previewed one generates at most (or -n, when larger).
_UPSTREAM_PREVIEW_ROWS = 10


class BadInput(Exception):
    """A problem with the command line found before anything runs (exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (like every other error) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _error(f"{message} (see '{self.prog} --help')")
        raise SystemExit(_EXIT_BAD_INPUT)


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {count}")
    return count


def _resume_mode(value: str) -> Any:
    from dd_prefect.workflow.resume import ResumeMode  # no Prefect import

    try:
        return ResumeMode.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _quiet_prefect_defaults(verbose: bool) -> None:
    # Set before Prefect is imported: no telemetry (no network here) and, unless asked,
    # nothing from Prefect's console handler: the CLI draws its own progress and prints
    # one line on failure. Run logs still go to the Prefect server (and its UI).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A first run in ephemeral mode creates Prefect's database; on a busy machine that
    # takes longer than Prefect's default 20 s wait for its temporary server.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dd-prefect",
        description=__doc__.split("\n\n")[0],
        epilog="Errors are one line on stderr; exit 2 for bad input, 1 for a failed run.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="generate a dataset or run a workflow on Prefect")
    run.add_argument("spec", type=Path)
    run.add_argument("--artifact-path", type=Path, default=Path("artifacts"))
    run.add_argument(
        "--resume",
        type=_resume_mode,
        default="never",
        help="never | if_possible | always (default: never)",
    )
    run.add_argument(
        "-n",
        "--num-records",
        type=_count,
        default=None,
        help="override num_records: a dataset spec's, or the FIRST stage's of a workflow "
        "spec (later stages keep theirs; one without num_records takes its input's row count)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")

    validate = sub.add_parser("validate", help="check a spec without generating anything")
    validate.add_argument("spec", type=Path)

    preview = sub.add_parser(
        "preview",
        help="generate a few rows in memory and print them",
        description="Generate a few rows in memory (nothing is written) and print them. "
        "For a workflow stage, the stages before it are previewed first, in memory, each "
        "seeded from the one before it as in a run (its sampling/selection strategy, "
        "output processors and selected output); on_success callbacks are not run, so a "
        "stage after one gets its predecessor's selected output unchanged.",
    )
    preview.add_argument("spec", type=Path)
    preview.add_argument(
        "-n",
        "--num-records",
        type=_count,
        default=10,
        help="rows to preview (default: 10). For a workflow stage: at most this many rows of "
        "the previewed stage (fewer when its num_records, or without num_records its input, "
        f"is smaller); each stage before it makes at most max(N, {_UPSTREAM_PREVIEW_ROWS}) rows",
    )
    preview.add_argument(
        "--stage", default=None, help="the workflow stage to preview (default: the first)"
    )

    sub.add_parser("mock-llm", help="serve the bundled mock LLM server", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dd-prefect`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["mock-llm"]:
        from dd_prefect.testing.mock_llm import main as mock_main

        return mock_main(argv[1:]) or 0
    args = _parser().parse_args(argv)
    _quiet_prefect_defaults(getattr(args, "verbose", False))

    from dd_prefect.errors import ConfigValidationError, ResumeError

    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "preview":
            return _preview(args)
        return _run(args)
    except ConfigValidationError as exc:
        _error("; ".join(str(issue) for issue in exc.issues))
        return _EXIT_BAD_INPUT
    except (ResumeError, BadInput) as exc:
        _error(str(exc))
        return _EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _error("interrupted")
        return _EXIT_INTERRUPTED
    except (Exception, asyncio.CancelledError) as exc:
        # Anything else failed at run time (a pyarrow/pandas ValueError too): not bad input.
        _error(describe(exc))
        return _EXIT_FAILED


def describe(exc: BaseException) -> str:
    """``<ExceptionType>: <message>`` (just the type when the message is empty)."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _error(message: str) -> None:
    # One line, always: some messages (a YAML parser's, with its excerpt) span several.
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"dd-prefect: error: {line}", file=sys.stderr)


def _load(path: Path, num_records: int | None = None) -> Any:
    from dd_prefect.config.workflow_spec import load_spec

    return load_spec(path, num_records=num_records)


def _designer(spec: Any, artifact_path: Path = Path("artifacts")) -> Any:
    from dd_prefect.interface import DataDesigner

    return DataDesigner(
        artifact_path=artifact_path,
        model_providers=spec.model_providers,
        run_config=spec.run_config,
    )


def _validate(args: argparse.Namespace) -> int:
    from dd_prefect.config.workflow_spec import WorkflowSpec

    spec = _load(args.spec)
    if isinstance(spec, WorkflowSpec):
        designer = _designer(spec)
        for stage in spec.stages:
            designer.check_providers(spec.stage_config(stage))
        print(f"ok: workflow '{spec.name}' with {len(spec.stages)} stage(s)")
    else:
        _designer(spec).validate(spec.config)
        print(f"ok: dataset '{spec.name}' with {len(spec.config.columns)} column(s)")
    return 0


def _preview(args: argparse.Namespace) -> int:
    import pandas as pd

    from dd_prefect.config.workflow_spec import WorkflowSpec

    spec = _load(args.spec)
    selected = None
    if isinstance(spec, WorkflowSpec):
        names = [s.name for s in spec.stages]
        target = args.stage if args.stage is not None else names[0]
        if target not in names:
            raise BadInput(
                f"no stage '{target}' in workflow '{spec.name}' (stages: {', '.join(names)})"
            )
        preview = preview_workflow(spec, _designer(spec), target, args.num_records)
        frame, errors, notes = preview.dataset, preview.errors, preview.notes
        if preview.output != "final":
            selected = (preview.output, preview.selected)
    else:
        if args.stage is not None:
            raise BadInput(f"--stage needs a workflow spec; {args.spec} is a single dataset")
        results = _designer(spec).preview(spec.config, num_records=args.num_records)
        frame, errors, notes = results.dataset, results.summary["errors"], []
    with pd.option_context(
        "display.max_columns", 20, "display.width", 160, "display.max_colwidth", 60
    ):
        print(frame)
        if selected is not None:
            print(f"\nselected output ({selected[0]}):")
            print(selected[1])
    for note in notes:
        print(f"note: {note}")
    print(f"{len(frame)} record(s); errors: {errors or 'none'}")
    return 0


class StagePreview:
    """A previewed stage: its main rows, its selected output, the stage's errors, and notes
    on how the preview differs from a run (on_success callbacks not run)."""

    def __init__(
        self,
        dataset: Any,
        output: str,
        selected: Any,
        errors: dict[str, int],
        notes: list[str],
    ) -> None:
        self.dataset = dataset
        self.output = output
        self.selected = selected
        self.errors = errors
        self.notes = notes


def preview_workflow(spec: Any, designer: Any, target: str, num_records: int) -> StagePreview:
    """Preview stage `target` of a workflow spec in memory (nothing written).

    Each stage up to `target` is previewed, seeded from the selected output of the stage
    before it as a run seeds it (a DataFrame seed with the stage's sampling/selection
    strategy), then its output processors run as a second pass. A stage makes its
    num_records rows (without num_records: its input's selected rows), capped at
    `num_records` for `target` and at max(num_records, 10) for the stages before it.
    on_success callbacks are not run (they need a stage directory on disk).
    """
    from dd_prefect.config.builder import DataDesignerConfig
    from dd_prefect.config.seeds import SeedConfig
    from dd_prefect.engine.seed_reader import SeedReader
    from dd_prefect.errors import WorkflowError

    names = [s.name for s in spec.stages]
    stages = spec.stages[: names.index(target) + 1]
    upstream = None
    notes: list[str] = []
    for index, stage in enumerate(stages):
        last = index == len(stages) - 1
        cap = num_records if last else max(num_records, _UPSTREAM_PREVIEW_ROWS)
        config = spec.stage_config(stage)
        if index:
            if upstream is None or len(upstream) == 0:
                raise WorkflowError(
                    f"stage '{stages[index - 1].name}' produced no rows in the preview, so "
                    f"stage '{stage.name}' has no input to preview"
                )
            seed = SeedConfig(
                source=_frame_source(upstream),
                sampling_strategy=stage.sampling_strategy,
                selection_strategy=stage.selection_strategy,
            )
            config = config.model_copy(update={"seed_config": seed})
        count = stage.num_records
        if count is None and config.seed_config is not None:
            count = SeedReader(config.seed_config, seed=None, fingerprint="preview").num_rows
        count = min(count if count is not None else cap, cap)
        with _naming_stage(stage.name):
            results = designer.preview(config, num_records=count)
        main, outputs = results.dataset, dict(results.processor_outputs)
        errors = dict(results.summary["errors"])
        if stage.output_processors and len(main):
            post = DataDesignerConfig(
                seed_config=SeedConfig(source=_frame_source(main)),
                processors=stage.output_processors,
            )
            with _naming_stage(stage.name):
                second = designer.preview(post, num_records=len(main))
            main = second.dataset
            outputs.update(second.processor_outputs)
            for kind, n in second.summary["errors"].items():
                errors[kind] = errors.get(kind, 0) + n
        selected = main
        if stage.output.startswith("processor:"):
            selected = outputs.get(stage.output.removeprefix("processor:"))
            if selected is None:  # a processor with no output: nothing to hand on
                import pandas as pd

                selected = pd.DataFrame()
        if stage.on_success is not None:
            notes.append(
                f"stage '{stage.name}': on_success {stage.on_success} is not run in a preview"
            )
        if last:
            return StagePreview(main, stage.output, selected, errors, notes)
        upstream = selected
    raise AssertionError("unreachable: the target stage is among the stages")


@contextlib.contextmanager
def _naming_stage(stage: str) -> Iterator[None]:
    """Config problems met while previewing a stage (e.g. a reference to a column only an
    on_success callback, not run here, would add) name the stage."""
    from dd_prefect.errors import ConfigIssue, ConfigValidationError

    try:
        yield
    except ConfigValidationError as exc:
        raise ConfigValidationError(
            [
                ConfigIssue(i.message, column=i.column, stage=i.stage or stage, field=i.field)
                for i in exc.issues
            ]
        ) from None


def _frame_source(df: Any) -> Any:
    """A DataFrameSeedSource for a previewed frame (seeds the next stage's preview)."""
    from dd_prefect.config.seeds import DataFrameSeedSource

    return DataFrameSeedSource(df=df)


def _run(args: argparse.Namespace) -> int:
    from dd_prefect.config.workflow_spec import WorkflowSpec
    from dd_prefect.orchestration.runtime import quiet_prefect_exit

    # -n replaces the dataset's (or the first stage's) num_records before validation.
    spec = _load(args.spec, num_records=args.num_records)
    mode = args.resume  # parsed (and checked) by argparse
    designer = _designer(spec, args.artifact_path)
    with quiet_prefect_exit(), _ProgressBar() as bar:
        if isinstance(spec, WorkflowSpec):
            from dd_prefect.orchestration.composite import workflow_from_spec

            workflow = workflow_from_spec(designer, spec)
            results = workflow.run(resume=mode, on_progress=bar.update)
            bar.close()
            _print_workflow_summary(results)
        else:
            results = designer.create(
                spec.config,
                num_records=spec.num_records,
                dataset_name=spec.name,
                resume=mode,
                on_progress=bar.update,
            )
            bar.close()
            _print_dataset_summary(results)
    return 0


class _ProgressBar:
    """A rich progress bar over row groups (one task per dataset or stage)."""

    def __enter__(self) -> _ProgressBar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("row groups · {task.fields[records]} records"),
            transient=False,
        )
        self._progress.start()
        self._tasks: dict[str, Any] = {}
        return self

    def update(self, done: int, total: int, records: int, label: str = "generating") -> None:
        if label not in self._tasks:
            self._tasks[label] = self._progress.add_task(label, total=total, records=0)
        self._progress.update(self._tasks[label], completed=done, total=total, records=records)

    def close(self) -> None:
        self._progress.stop()

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


def _print_dataset_summary(results: Any) -> None:
    meta = results.metadata
    print(
        f"dataset '{meta.dataset_name}': {meta.actual_records} of {meta.target_records} "
        f"records in {meta.duration:.1f}s -> {results.base_dataset_path}"
    )
    if meta.dropped_rows or meta.errors:
        print(f"  dropped rows: {meta.dropped_rows}; errors: {meta.errors}")
    for model, usage in meta.llm_usage.items():
        print(
            f"  {model}: {usage['requests']} requests, "
            f"{usage['prompt_tokens'] + usage['completion_tokens']} tokens"
        )


def _print_workflow_summary(results: Any) -> None:
    print(f"workflow '{results.name}' -> {results.workflow_dir}")
    for name, stage in results.items():
        print(f"  {name}: {stage.status}, {stage.actual_records} records")


if __name__ == "__main__":
    raise SystemExit(main())

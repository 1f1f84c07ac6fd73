"""The ``dd-prefect`` command line.

    dd-prefect run SPEC.yaml [--artifact-path DIR] [--resume never|if_possible|always]
    dd-prefect validate SPEC.yaml
    dd-prefect preview SPEC.yaml [-n N]
    dd-prefect mock-llm [--port P] [--latency S] ...   (the bundled mock LLM server)

SPEC is a workflow spec (``stages:``), a dataset spec (``config:``) or a plain config.
Bad input exits with status 2 and one line naming the problem, before any LLM call and
before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

_EXIT_BAD_INPUT = 2
_EXIT_FAILED = 1


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
    parser = argparse.ArgumentParser(prog="dd-prefect", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="generate a dataset or run a workflow on Prefect")
    run.add_argument("spec", type=Path)
    run.add_argument("--artifact-path", type=Path, default=Path("artifacts"))
    run.add_argument("--resume", default="never", help="never | if_possible | always")
    run.add_argument(
        "-n", "--num-records", type=int, default=None, help="override a dataset spec's num_records"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")

    validate = sub.add_parser("validate", help="check a spec without generating anything")
    validate.add_argument("spec", type=Path)

    preview = sub.add_parser("preview", help="generate a few rows in memory and print them")
    preview.add_argument("spec", type=Path)
    preview.add_argument("-n", "--num-records", type=int, default=10)
    preview.add_argument("--stage", default=None, help="the workflow stage to preview")

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

    from dd_prefect.config.errors import ConfigValidationError, DataDesignerError
    from dd_prefect.workflow.resume import ResumeError

    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "preview":
            return _preview(args)
        return _run(args)
    except ConfigValidationError as exc:
        _error("; ".join(str(issue) for issue in exc.issues))
        return _EXIT_BAD_INPUT
    except (ResumeError, ValueError) as exc:
        _error(str(exc))
        return _EXIT_BAD_INPUT
    except DataDesignerError as exc:
        _error(str(exc))
        return _EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _error(message: str) -> None:
    # One line, always: some messages (a YAML parser's, with its excerpt) span several.
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"dd-prefect: error: {line}", file=sys.stderr)


def _load(path: Path) -> Any:
    from dd_prefect.config.workflow_spec import load_spec

    return load_spec(path)


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
    if isinstance(spec, WorkflowSpec):
        stages = {s.name: s for s in spec.stages}
        stage = stages.get(args.stage) if args.stage else spec.stages[0]
        if stage is None:
            raise ValueError(f"no stage '{args.stage}' in workflow '{spec.name}'")
        config = spec.stage_config(stage)
    else:
        config = spec.config
    results = _designer(spec).preview(config, num_records=args.num_records)
    with pd.option_context(
        "display.max_columns", 20, "display.width", 160, "display.max_colwidth", 60
    ):
        print(results.dataset)
    print(f"{results.count_records()} record(s); errors: {results.summary['errors'] or 'none'}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from dd_prefect.config.workflow_spec import WorkflowSpec
    from dd_prefect.orchestration.runtime import quiet_prefect_exit
    from dd_prefect.workflow.resume import ResumeMode

    spec = _load(args.spec)
    mode = ResumeMode.parse(args.resume)
    designer = _designer(spec, args.artifact_path)
    with quiet_prefect_exit(), _ProgressBar() as bar:
        if isinstance(spec, WorkflowSpec):
            from dd_prefect.orchestration.composite import workflow_from_spec

            workflow = workflow_from_spec(designer, spec)
            results = workflow.run(resume=mode, on_progress=bar.update)
            bar.close()
            _print_workflow_summary(results)
        else:
            count = args.num_records if args.num_records is not None else spec.num_records
            results = designer.create(
                spec.config,
                num_records=count,
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

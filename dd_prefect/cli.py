"""The ``dd-prefect`` command line.

    dd-prefect run SPEC.yaml [--artifact-path DIR] [--resume never|if_possible|always] [-n N]
    dd-prefect validate SPEC.yaml
    dd-prefect preview SPEC.yaml [-n N] [--stage NAME]
    dd-prefect setup [--within SECONDS]   (on PREFECT_API_URL: crash runs whose heartbeats stop)
    dd-prefect report ARTIFACT_DIR   (write report.html of a workflow or dataset directory)
    dd-prefect mock-llm [--port P] [--latency S] ...   (the bundled mock LLM server)

SPEC is a workflow spec (``stages:``), a dataset spec (``config:``) or a plain config.

Errors are always ONE line on stderr, ``dd-prefect: error: ...``, never a traceback:

- exit 2: bad input -- a bad argument, an invalid spec (ConfigValidationError) or a resume
  that is not possible (ResumeError), or another run holding the same directory
  (RunLockedError; ``--wait`` waits instead); found before any LLM call and before anything is
  written (an invalid config met later, e.g. behind an on_success callback, also exits 2);
- exit 1: anything else failed, reported as ``<ExceptionType>: <message>``;
- exit 130: interrupted (Ctrl-C); exit 143: terminated (SIGTERM) during a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

_EXIT_BAD_INPUT = 2
_EXIT_FAILED = 1
_EXIT_INTERRUPTED = 130
_EXIT_TERMINATED = 143


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
    run.add_argument(
        "--shards",
        type=_count,
        default=None,
        help="spread the row groups of a dataset spec (or of a workflow's FIRST stage) over "
        "N shard flow runs: in this process, or on the workers of the shard deployment "
        "(a spec's shard_deployment, or DD_PREFECT_SHARD_DEPLOYMENT)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume: regenerate only the rows that failed (the dataset's, or a "
        "workflow stage's, failed-rows/), at their positions; later stages rerun",
    )
    run.add_argument(
        "--wait",
        action="store_true",
        help="if another run is writing the same dataset or workflow directory, wait for it "
        "(default: fail at once, naming it)",
    )

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
        "is smaller); each stage before it makes at most max(N, 10) rows",
    )
    preview.add_argument(
        "--stage", default=None, help="the workflow stage to preview (default: the first)"
    )

    setup = sub.add_parser(
        "setup",
        help="create or update dd-prefect's automations on the Prefect server",
        description="On the server PREFECT_API_URL names, create (or update, by name) the "
        "automation that marks a dd-prefect flow run Crashed when its heartbeats stop (its "
        "process died, e.g. a killed worker), so the run can be retried. Safe to run again: "
        "there is always exactly one. Flow-run processes must heartbeat more often than "
        "--within: prefect.yaml sets PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30 for deployments.",
    )
    setup.add_argument(
        "--within",
        type=_count,
        default=90,
        metavar="SECONDS",
        help="how long after a run's last heartbeat it is marked Crashed (default: 90, "
        "3 heartbeats; at least 60)",
    )

    report = sub.add_parser(
        "report",
        help="write the HTML report of a dataset or workflow directory",
        description="Write report.html in an artifact directory: a workflow's (stage graph, "
        "per-stage counts, LLM usage, plots of each stage's analysis) or a dataset's. The "
        "file is self-contained (plotly.js inlined): open it in a browser, offline.",
    )
    report.add_argument("artifact_dir", type=Path, help="a workflow or dataset directory")

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

    from dd_prefect.errors import ConfigValidationError, ResumeError, RunLockedError

    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "preview":
            return _preview(args)
        if args.command == "setup":
            return _setup(args)
        if args.command == "report":
            return _report(args)
        return _run(args)
    except ConfigValidationError as exc:
        _error("; ".join(str(issue) for issue in exc.issues))
        return _EXIT_BAD_INPUT
    except (ResumeError, RunLockedError, BadInput) as exc:
        _error(str(exc))
        return _EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _error("interrupted")
        return _EXIT_INTERRUPTED
    except (Exception, asyncio.CancelledError) as exc:
        # Anything else failed at run time (a pyarrow/pandas ValueError too): not bad input.
        _error(describe(exc))
        return _EXIT_FAILED
    except _termination_signal():
        # SIGTERM (`timeout`, `kill`) during a flow run: Prefect raises it in the main thread.
        _error("terminated")
        return _EXIT_TERMINATED


def _termination_signal() -> type[BaseException]:
    # Only evaluated for an exception no clause above took, so `validate` never pays for it.
    from prefect.exceptions import TerminationSignal

    return TerminationSignal


def describe(exc: BaseException) -> str:
    """``<ExceptionType>: <message>`` (just the type when the message is empty)."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _error(message: str) -> None:
    # One line, always: some messages (a YAML parser's, with its excerpt) span several.
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"dd-prefect: error: {line}", file=sys.stderr)


def _load(path: Path, num_records: int | None = None, shards: int | None = None) -> Any:
    from dd_prefect.config.workflow_spec import load_spec

    return load_spec(path, num_records=num_records, shards=shards)


def _runtime(spec: Any, artifact_path: Path = Path("artifacts")) -> Any:
    from dd_prefect.orchestration.spec_runner import spec_runtime

    return spec_runtime(spec, artifact_path)


def _validate(args: argparse.Namespace) -> int:
    from dd_prefect.config.workflow_spec import WorkflowSpec
    from dd_prefect.orchestration.workflow_flow import check_stages

    spec = _load(args.spec)
    runtime = _runtime(spec)
    if isinstance(spec, WorkflowSpec):
        check_stages(spec.resolved_stages(), runtime, {})
        print(f"ok: workflow '{spec.name}' with {len(spec.stages)} stage(s)")
    else:
        runtime.check_providers(spec.config)
        print(f"ok: dataset '{spec.name}' with {len(spec.config.columns)} column(s)")
    return 0


def _preview(args: argparse.Namespace) -> int:
    import pandas as pd

    from dd_prefect.config.workflow_spec import WorkflowSpec
    from dd_prefect.orchestration.preview import preview_dataset, preview_workflow_stage
    from dd_prefect.orchestration.runtime import run_sync

    spec = _load(args.spec)
    runtime = _runtime(spec)
    selected = None
    if isinstance(spec, WorkflowSpec):
        names = [s.name for s in spec.stages]
        target = args.stage if args.stage is not None else names[0]
        if target not in names:
            raise BadInput(
                f"no stage '{target}' in workflow '{spec.name}' (stages: {', '.join(names)})"
            )
        preview = run_sync(
            preview_workflow_stage(runtime, spec.resolved_stages(), target, args.num_records)
        )
        frame, errors, notes = preview.dataset, preview.errors, preview.notes
        if preview.output != "final":
            selected = (preview.output, preview.selected)
    else:
        if args.stage is not None:
            raise BadInput(f"--stage needs a workflow spec; {args.spec} is a single dataset")
        results = run_sync(preview_dataset(runtime, spec.config, args.num_records))
        frame, errors, notes = results.dataset, results.summary["errors"], []
        if spec.num_records:  # a full run's usage, scaled from the preview's
            notes.append(str(results.estimate_usage(spec.num_records)))
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


def _setup(args: argparse.Namespace) -> int:
    from prefect.settings import get_current_settings

    from dd_prefect.orchestration.automations import crash_automation, ensure_automation

    api_url = get_current_settings().api.url
    if not api_url:
        raise BadInput(
            "PREFECT_API_URL is not set: setup configures a running Prefect server "
            "(e.g. export PREFECT_API_URL=http://127.0.0.1:4200/api)"
        )
    try:
        automation = crash_automation(args.within)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    outcome = ensure_automation(automation)
    removed = f"; removed {outcome.removed} duplicate(s)" if outcome.removed else ""
    print(
        f"{outcome.action} automation '{automation.name}' (id {outcome.automation_id}) on "
        f"{api_url}: a dd-prefect flow run with no heartbeat for {args.within} s is marked "
        f"Crashed{removed}"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from dd_prefect.errors import WorkflowError
    from dd_prefect.workflow.report import write_report

    try:
        path = write_report(args.artifact_dir)
    except WorkflowError as exc:
        raise BadInput(str(exc)) from None
    print(f"wrote {path}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from dd_prefect import console
    from dd_prefect.orchestration import spec_runner
    from dd_prefect.orchestration.ephemeral import tie_ephemeral_server
    from dd_prefect.orchestration.runtime import quiet_prefect_exit, run_sync
    from dd_prefect.workflow.results import CompositeWorkflowResults

    # -n and --shards replace the dataset's (or the first stage's) before validation.
    spec = _load(args.spec, num_records=args.num_records, shards=args.shards)
    runtime = _runtime(spec, args.artifact_path)
    # Without a Prefect API URL, the temporary server Prefect starts must not outlive this
    # process, even one killed with SIGKILL.
    tie_ephemeral_server()
    runtime.wait_for_lock = args.wait
    console.show_warnings()
    with quiet_prefect_exit(), console.ProgressBar() as bar:
        results = run_sync(
            spec_runner.run_spec(
                spec,
                runtime,
                args.resume,
                on_progress=bar.update,
                retry_failed=args.retry_failed,
            )
        )
        bar.close()
        if isinstance(results, CompositeWorkflowResults):
            console.print_workflow_summary(results)
        else:
            console.print_dataset_summary(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

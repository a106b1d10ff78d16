"""The ``batch`` command: plan (manifest or templates), check, skip what is done, run, report.

Exit status: 0 every job ok or skipped; 1 the batch could not run (nothing ran); 2 it ran to the
end and a job failed; 130 interrupted (SIGINT); 143 SIGTERM.  Importing this module stays cheap
(typer only): it is loaded for every ``labelmap-convert`` start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from labelmap.cli.native import HINT_TEXT as HINT_TEXT

if TYPE_CHECKING:
    from labelmap.cli.batch.jobs import Job, JobResult
    from labelmap.cli.batch.manifest import Plan

__all__ = ["batch", "HINT_TEXT", "CONTEXT_SETTINGS"]

#: Unknown flags are the jobs' batch-wide flags (any itk2seg or seg2itk flag), not errors.
CONTEXT_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def batch(  # noqa: PLR0913 - a command's parameters are its flags
    ctx: typer.Context,
    manifest: str | None = typer.Argument(
        None,
        metavar="[MANIFEST.csv]",
        help="CSV, one row per job: labels,dicom,metadata,output[,id,options,series_uid] (itk2seg) or "
        "seg,output[,id,options,reference,series_uid] (seg2itk). Relative paths start at its folder.",
        show_default=False,
    ),
    labels: str | None = typer.Option(
        None, "--labels", help="Instead of a manifest: label file template with one {id}, e.g. 'seg/{id}/ct.nii.gz'."
    ),
    dicom: str | None = typer.Option(None, "--dicom", help="Template: source series folder, e.g. 'dicom/{id}'."),
    metadata: str | None = typer.Option(None, "--metadata", help="Template (or one shared file): dcmqi JSON."),
    seg: str | None = typer.Option(None, "--seg", help="Template for a seg2itk batch: SEG file, e.g. 'segs/{id}.dcm'."),
    output: str | None = typer.Option(
        None, "--output", help="Template: output SEG file (itk2seg) or output folder (seg2itk), e.g. 'out/{id}.dcm'."
    ),
    write_manifest: Path | None = typer.Option(
        None, "--write-manifest", help="With templates: write the jobs found as a manifest CSV and stop."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Report file, .csv or .json (default: <manifest>.report.csv beside the manifest)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Skip jobs whose output is at least as new as every input; rerun failed ones."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Local worker processes (default: chosen for this machine's cores)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Use a running Dask cluster at this address (tcp://host:port)."
    ),
    scheduler_file: Path | None = typer.Option(
        None, "--scheduler-file", help="Use a running Dask cluster described by this scheduler file."
    ),
    memory_limit: str | None = typer.Option(
        None, "--memory-limit", help="Per local worker (e.g. 4GB); a worker over it is restarted and its job rerun."
    ),
    worker_resource: str | None = typer.Option(
        None, "--worker-resource", help="Run jobs only on workers started with --resources NAME=1."
    ),
    retries: int = typer.Option(
        0, "--retries", min=0, max=10, help="Retry a job after a transient I/O error (ESTALE, EIO, timeouts)."
    ),
    shard: str | None = typer.Option(
        None, "--shard", help="K/N: run rows K, K+N, K+2N, ... only (array jobs on several machines)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Parse, check and plan; convert nothing."),
    deterministic_uids: bool = typer.Option(
        False, "--deterministic-uids", help="itk2seg: UIDs derived from the inputs and options (reruns repeat them)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress and no failure lines; the report has them."),
) -> int:
    """Run many itk2seg (or seg2itk) jobs from a manifest or {id} templates, in parallel; one report row per job.

    Any itk2seg / seg2itk flag given here (--compression rle, --type binary, ...) applies to every job; a row's
    options cell comes after it and wins.
    """
    import time

    started = time.monotonic()
    tokens = [manifest, *ctx.args] if manifest is not None else list(ctx.args)
    positional, defaults = _split_positional(tokens)
    given = {"labels": labels, "dicom": dicom, "metadata": metadata, "seg": seg, "output": output}
    templates = {k: v for k, v in given.items() if v}
    if deterministic_uids:
        defaults.append("--deterministic-uids")
    _check_choice(positional, templates, workers, scheduler, scheduler_file, write_manifest)
    cut = _parse_shard(shard)
    try:
        plan = _plan(positional[0] if positional else None, templates, defaults)
    except KeyboardInterrupt as exc:
        typer.echo("error: interrupted while reading the manifest; nothing ran", err=True)
        return _signal_status(exc)
    if write_manifest is not None:
        from labelmap.cli.batch.manifest import write_manifest as write

        n = write(plan, write_manifest)
        if not quiet:
            typer.echo(
                f"wrote {write_manifest} ({n} {plan.command} rows); run: labelmap-convert batch {write_manifest}"
            )
        return 0
    jobs = plan.jobs if cut is None else [j for j in plan.jobs if j.index % cut[1] == cut[0] - 1]
    from labelmap.cli.batch.report import check_report_path, default_report_path

    report_path = check_report_path(
        str(report) if report is not None else default_report_path(plan.source, cut), [plan.source]
    )
    results = _skip_done(jobs) if resume else {}
    if dry_run:
        _print_plan(plan, jobs, results, report_path, cut)
        return 0
    return _run(
        jobs,
        results,
        report_path,
        started,
        quiet=quiet,
        spec_args=dict(
            workers=workers,
            scheduler=scheduler,
            scheduler_file=str(scheduler_file) if scheduler_file is not None else None,
            memory_limit=memory_limit,
            worker_resource=worker_resource,
            retries=retries,
        ),
        manifest_dir=plan.base,
    )


def _split_positional(tokens: list[str]) -> tuple[list[str], list[str]]:
    """The positional arguments (the manifest) and the jobs' flags among ``tokens``, telling an option's
    value from a positional by the itk2seg and seg2itk parsers' lists of flags that take a value."""
    takes_value = _value_flags()
    positional: list[str] = []
    flags: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-") and token != "-":
            flags.append(token)
            if token in takes_value and i + 1 < len(tokens):
                flags.append(tokens[i + 1])
                i += 1
        else:
            positional.append(token)
        i += 1
    return positional, flags


def _value_flags() -> set[str]:
    from labelmap.cli.app import _command

    group = _command()
    names: set[str] = set()
    for name in ("itk2seg", "seg2itk"):
        for param in group.commands[name].params:
            if (
                getattr(param, "opts", None)
                and not getattr(param, "is_flag", False)
                and param.param_type_name == "option"
            ):
                names.update(param.opts)
    return names


def _check_choice(
    positional: list[str],
    templates: dict[str, str],
    workers: int | None,
    scheduler: str | None,
    scheduler_file: Path | None,
    write_manifest: Path | None,
) -> None:
    """One manifest or templates, one engine choice."""
    from labelmap.errors import ManifestError

    if len(positional) > 1:
        raise ManifestError(f"one manifest per batch; got {', '.join(repr(p) for p in positional)}")
    if positional and templates:
        flags = ", ".join(f"--{name}" for name in templates)
        what = "are templates" if len(templates) > 1 else "is a template"
        raise ManifestError(
            f"give a MANIFEST.csv or templates, not both: {flags} {what} for a batch without a manifest; "
            "a manifest gives them in its columns"
        )
    if not positional and not templates:
        raise ManifestError(
            "give a MANIFEST.csv, or templates such as --labels 'seg/{id}.nii.gz' --dicom 'ct/{id}' ..."
        )
    if write_manifest is not None and not templates:
        raise ManifestError("--write-manifest writes the jobs that templates (--labels or --seg ...) find")
    if sum(x is not None for x in (workers, scheduler, scheduler_file)) > 1:
        raise ManifestError("--workers (a local cluster), --scheduler and --scheduler-file exclude each other")


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    """``K/N`` -> (K, N), 1 <= K <= N."""
    if text is None:
        return None
    from labelmap.errors import ManifestError

    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ManifestError(f"--shard {text!r}: give K/N, e.g. 3/8 for rows 3, 11, 19, ... of 8 shards") from None
    if not 1 <= k <= n:
        raise ManifestError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def _plan(manifest: str | None, templates: dict[str, str], defaults: list[str]) -> Plan:
    from labelmap.cli.batch.manifest import discover, read_manifest

    return read_manifest(manifest, defaults) if manifest is not None else discover(templates, defaults)


def _skip_done(jobs: list[Job]) -> dict[int, JobResult]:
    """``--resume``: results (``skipped``) for the jobs whose output is up to date."""
    from labelmap.cli.batch.jobs import JobResult
    from labelmap.cli.batch.resume import up_to_date

    results = {}
    for job in jobs:
        size = up_to_date(job)
        if size is not None:
            results[job.index] = JobResult(job.index, job.id, "skipped", output=job.output, output_bytes=size)
    return results


def _print_plan(
    plan: Plan, jobs: list[Job], results: dict[int, JobResult], report: str, cut: tuple[int, int] | None
) -> None:
    import shlex

    where = plan.source if plan.source == "templates" else repr(plan.source)
    shard = f" (shard {cut[0]}/{cut[1]})" if cut else ""
    typer.echo(
        f"batch (dry run): {len(jobs)} {plan.command} jobs from {where}{shard}, {len(jobs) - len(results)} to run, "
        f"{len(results)} skipped by --resume; report would be {report}"
    )
    for job in jobs[:3]:
        typer.echo(f"  {job.id}: labelmap-convert {shlex.join(job.argv)}")
    if len(jobs) > 3:
        typer.echo(f"  ... {len(jobs) - 3} more")


def _run(
    jobs: list[Job],
    results: dict[int, JobResult],
    report_path: str,
    started: float,
    *,
    quiet: bool,
    spec_args: dict[str, Any],
    manifest_dir: str,
) -> int:
    """Run the jobs not skipped, write the report (also when interrupted), print the summary; the exit status."""
    import time

    from labelmap.cli.batch.engine import EngineSpec, run_jobs
    from labelmap.cli.batch.progress import Progress
    from labelmap.cli.batch.report import complete, summary, write_report

    todo = [j for j in jobs if j.index not in results]
    started_wall = time.time()
    progress = Progress(len(jobs), quiet=quiet)
    for r in results.values():
        progress.update(r)

    def on_result(result: JobResult) -> None:
        results[result.index] = result
        progress.update(result)

    outcome = None
    stopped: int | None = None
    try:
        if todo:
            outcome = run_jobs(
                todo, EngineSpec(**spec_args), manifest_dir=manifest_dir, on_result=on_result, on_tick=progress.tick
            )
    except KeyboardInterrupt as exc:  # a signal before the engine took them over (nothing ran yet)
        stopped = _signal_status(exc)
    finally:
        progress.close()
        rows = complete(jobs, results)
        _finished_while_stopping(rows, jobs, since=started_wall)
        if outcome is not None and outcome.running_at_stop:
            for row in rows:
                if row.index in outcome.running_at_stop and row.status == "cancelled":
                    row.error = "running on the cluster when the batch stopped; it may have completed"
        write_report(report_path, rows)
    line = summary(rows, time.monotonic() - started, report_path)
    if not quiet or any(r.status == "failed" for r in rows):
        typer.echo(line)
    if stopped is not None:
        return stopped
    if outcome is not None and outcome.signal is not None:
        return 128 + int(outcome.signal)
    return 2 if any(r.status == "failed" for r in rows) else 0


def _finished_while_stopping(rows: list[JobResult], jobs: list[Job], *, since: float) -> None:
    """A job without a result whose output appeared during this run finished as the batch stopped (its
    worker was signalled too, or the result was still on its way): ``ok``, not ``cancelled``.  Outputs
    are renamed into place whole, so one that exists is complete."""
    from labelmap.cli.batch.resume import output_state

    by_index = {j.index: j for j in jobs}
    for row in rows:
        if row.status != "cancelled":
            continue
        state = output_state(by_index[row.index])
        if state is not None and state[0] >= since:
            row.status, row.output_bytes = "ok", state[1]
            row.warnings = ["finished while the batch was stopping; its details were not collected"]


def _signal_status(exc: BaseException) -> int:
    """130 for Ctrl-C, 128 + the signal for SIGTERM / SIGHUP (raised as the app's ``Terminated``)."""
    import signal

    return 128 + int(getattr(exc, "signum", signal.SIGINT))

"""The batch engine on a real local Dask cluster: results, a killed worker, a poison job, bad settings,
and Ctrl-C / SIGTERM to a process running a batch.  Every process started is checked gone afterwards."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

pytest.importorskip("distributed")

import pydicom
from _batchjobs import hungry_job, make_jobs, pid_of, poison_job, raising_job, write_job
from _procs import TESTS, Watched, descendants, python, wait_gone

from labelmap._util.resources import machine_threads
from labelmap.cli.batch.engine import PIP_LINE, EngineOutcome, EngineSpec, default_workers, run_jobs
from labelmap.cli.batch.jobs import Job
from labelmap.errors import InputError, LabelmapError, MissingDependencyError

from _cli import LABELMAP_SOP_CLASS, make_case


def _run(jobs, spec=EngineSpec(workers=2), **kwargs):
    """run_jobs collecting results by index; also checks that no process it started is left."""
    results = {}
    before = descendants(os.getpid())
    seen: dict[int, float] = {}

    def on_result(r):
        assert r.index not in results, f"job {r.index} reported twice"
        results[r.index] = r
        seen.update(descendants(os.getpid()))

    outcome = run_jobs(jobs, spec, manifest_dir=str(TESTS), on_result=on_result, **kwargs)
    started = {pid: t for pid, t in seen.items() if pid not in before}
    assert wait_gone(started, timeout=5) == [], "worker processes left after run_jobs returned"
    return outcome, results


def _no_stray_output(capfd):
    out, err = capfd.readouterr()
    assert err == "", f"stray stderr: {err!r}"
    assert out == "", f"stray stdout: {out!r}"


def test_local_batch_runs_every_job_in_worker_processes(tmp_path, capfd):
    ticks = []
    outcome, results = _run(make_jobs(tmp_path, 12, 0.02), on_tick=lambda: ticks.append(1), func=write_job)
    assert outcome == EngineOutcome(signal=None, running_at_stop=frozenset())
    assert sorted(results) == list(range(12))
    assert {r.status for r in results.values()} == {"ok"}
    pids = {pid_of(r) for r in results.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    for i, r in results.items():
        index, pid, threads, _ = (tmp_path / f"j{i}.txt").read_text().split()
        assert int(index) == i and int(pid) == pid_of(r)
        assert int(threads) == max(1, machine_threads() // 2)  # 2 workers share the cores' threads
    assert ticks, "on_tick was never called"
    _no_stray_output(capfd)


def test_default_workers_is_one_per_core():
    assert default_workers(8) == 8 and default_workers(1) == 1
    assert default_workers() == machine_threads()


def test_a_killed_worker_is_replaced_and_its_jobs_rerun(tmp_path, capfd):
    killed = []

    def kill_once(result):
        if not killed:
            pid = pid_of(result)
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    jobs = make_jobs(tmp_path, 16, 0.1)
    results = {}

    def on_result(r):
        results[r.index] = r
        if len(results) == 2:
            kill_once(r)

    outcome = run_jobs(jobs, EngineSpec(workers=2), manifest_dir=str(tmp_path), on_result=on_result, func=write_job)
    assert outcome.signal is None
    assert killed and sorted(results) == list(range(16))
    assert {r.status for r in results.values()} == {"ok"}
    assert all((tmp_path / f"j{i}.txt").is_file() for i in range(16))
    later = {pid_of(r) for r in list(results.values())[4:]}
    assert killed[0] not in later  # the dead worker ran nothing more; its jobs ran elsewhere
    _no_stray_output(capfd)


def test_a_poison_job_fails_after_four_worker_deaths_and_the_batch_goes_on(tmp_path, capfd):
    jobs = make_jobs(tmp_path, 8, 0.05)
    jobs[3] = Job(3, "poison3", "test", ("0",), str(tmp_path / "p.txt"), ())
    outcome, results = _run(jobs, func=poison_job)
    assert outcome.signal is None and sorted(results) == list(range(8))
    bad = results[3]
    assert bad.status == "failed" and bad.id == "poison3" and bad.attempts == 4
    assert bad.error == "the worker running this job died 4 times (out of memory or a crash)"
    assert {results[i].status for i in range(8) if i != 3} == {"ok"}
    _no_stray_output(capfd)


@pytest.mark.slow
def test_a_job_over_the_memory_limit_is_failed_and_the_batch_goes_on(tmp_path, capfd):
    jobs = make_jobs(tmp_path, 4)
    jobs[1] = Job(1, "hungry1", "test", ("900",), str(tmp_path / "h.txt"), ())
    outcome, results = _run(jobs, EngineSpec(workers=2, memory_limit="600MB"), func=hungry_job)
    assert outcome.signal is None and sorted(results) == list(range(4))
    assert results[1].status == "failed"
    assert results[1].error == "the worker running this job died 4 times (out of memory or a crash)"
    assert {results[i].status for i in (0, 2, 3)} == {"ok"}
    _no_stray_output(capfd)


def test_a_job_function_that_raises_is_a_failed_row_not_a_traceback(tmp_path, capfd):
    outcome, results = _run(make_jobs(tmp_path, 4), func=raising_job)
    assert outcome.signal is None
    assert [results[i].status for i in range(4)] == ["ok", "failed", "ok", "failed"]
    assert results[1].error == "internal error: ZeroDivisionError: a bug in the job function"
    assert "\n" not in results[1].error
    _no_stray_output(capfd)


def test_memory_limit_and_worker_resource_on_a_local_cluster(tmp_path, capfd):
    spec = EngineSpec(workers=1, memory_limit="1GB", worker_resource="labelmap", threads_per_job=3, retries=2)
    outcome, results = _run(make_jobs(tmp_path, 3), spec, func=write_job)
    assert outcome.signal is None and {r.status for r in results.values()} == {"ok"}
    assert results[0].warnings == ["threads=3", "retries=2"]  # handed to the job function as given
    _no_stray_output(capfd)


def test_no_jobs_starts_no_cluster(tmp_path):
    before = descendants(os.getpid())
    assert run_jobs([], EngineSpec(), manifest_dir=str(tmp_path), on_result=lambda r: None) == EngineOutcome()
    assert descendants(os.getpid()) == before


@pytest.mark.parametrize(
    "spec, words",
    [
        (EngineSpec(scheduler="tcp://127.0.0.1:1", scheduler_file="f.json"), "not both"),
        (EngineSpec(workers=2, scheduler="tcp://127.0.0.1:1"), "--workers"),
        (EngineSpec(memory_limit="1GB", scheduler="tcp://127.0.0.1:1"), "--memory-limit"),
        (EngineSpec(workers=0), "workers must be 1 or more"),
        (EngineSpec(workers=1, memory_limit="lots"), "is not a size"),
        (EngineSpec(threads_per_job=-1), "0 or more"),
    ],
)
def test_settings_that_cannot_go_together_are_one_line_errors(tmp_path, spec, words):
    with pytest.raises(InputError) as info:
        run_jobs(make_jobs(tmp_path, 1), spec, manifest_dir=str(tmp_path), on_result=lambda r: None, func=write_job)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_without_distributed_the_error_names_the_pip_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an environment without it imports
    with pytest.raises(MissingDependencyError) as info:
        run_jobs(make_jobs(tmp_path, 1), EngineSpec(), manifest_dir=str(tmp_path), on_result=lambda r: None)
    assert isinstance(info.value, LabelmapError)
    assert PIP_LINE in str(info.value) and PIP_LINE == 'pip install "labelmap[batch]"'


def test_real_conversions_through_run_job(tmp_path, capfd):
    case = make_case(tmp_path)
    jobs = []
    for i in range(3):
        out = tmp_path / "out" / f"c{i}" / "seg.dcm"  # folders created by the job
        argv = ("itk2seg", str(case["lab"]), "--dicom", str(case["ct"]), "--metadata", str(case["meta"]))
        jobs.append(Job(i, f"c{i}", "itk2seg", (*argv, "--output", str(out), "--quiet"), str(out), ()))
    bad = tmp_path / "out" / "bad.dcm"
    jobs.append(Job(3, "bad", "itk2seg", ("itk2seg", str(tmp_path / "nope.nrrd"), "--dicom", str(case["ct"]),
                                          "--metadata", str(case["meta"]), "--output", str(bad), "--quiet"),
                    str(bad), ()))  # fmt: skip
    outcome, results = _run(jobs)
    assert outcome.signal is None
    for i in range(3):
        assert results[i].status == "ok", results[i].error
        ds = pydicom.dcmread(results[i].output)
        assert ds.SOPClassUID == LABELMAP_SOP_CLASS and results[i].frames == int(ds.NumberOfFrames)
    assert results[3].status == "failed" and "nope.nrrd" in results[3].error and not bad.exists()
    _no_stray_output(capfd)


# --------------------------------------------------------------------------- signals
def _batch(tmp_path, n, seconds, *extra, **popen):
    """A batch in its own process (and process group) running ``n`` jobs of ``seconds``."""
    args = python(str(TESTS / "_batchjobs.py"), str(n), str(seconds), str(tmp_path), *extra)
    return Watched(args, stdout=-1, stderr=-1, text=True, start_new_session=True, **popen)


def _read_until_results(w, count, text="", timeout=30.0):
    """The batch's stdout (``text`` so far, and more) until ``count`` results were printed.  Read from
    the pipe's file descriptor, not its buffered reader: ``communicate()`` later reads the descriptor
    too and would not see lines a buffered ``readline`` had read ahead."""
    deadline = time.monotonic() + timeout
    while sum(x.startswith("result") for x in text.split("\n")[:-1]) < count:
        assert time.monotonic() < deadline, f"no results in time: {text!r}"
        chunk = os.read(w.proc.stdout.fileno(), 65536).decode()
        assert chunk, f"the batch ended early: {text!r}"
        text += chunk
    return text


def _interrupted(w, text, signum, *, timeout=15.0):
    """Wait for the interrupted batch (``text``: its stdout read so far); its results and the wait."""
    rc, waited = w.finish(timeout)
    rest, err = w.proc.communicate()
    lines = (text + rest).split("\n")
    w.stop()
    assert rc == 0, (rc, lines, err)
    assert err == "", f"stray stderr: {err!r}"
    assert wait_gone(w.seen, timeout=5) == [], "processes left behind"
    results = [x.split() for x in lines if x.startswith("result")]
    outcome = [x for x in lines if x.startswith("outcome")]
    assert outcome == [f"outcome {int(signum)} -"]
    return results, waited


@pytest.mark.parametrize("signum", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM])
def test_a_signal_finishes_running_jobs_cancels_the_rest_and_leaves_nothing(tmp_path, signum):
    w = _batch(tmp_path, 40, 0.3)
    try:
        text = _read_until_results(w, 1)
        w.signal_group(signum) if signum == signal.SIGINT else os.kill(w.proc.pid, signum)
        results, waited = _interrupted(w, text, signum)
    finally:
        w.stop()
    assert waited < 5
    assert 1 <= len(results) < 40
    assert {r[2] for r in results} == {"ok"}
    written = sorted(p.name for p in tmp_path.glob("j*.txt"))
    assert written == sorted(f"j{r[1]}.txt" for r in results)  # a running job finished and was reported
    assert not list(tmp_path.glob(".*part"))


def test_a_second_ctrl_c_kills_the_workers_at_once(tmp_path):
    w = _batch(tmp_path, 6, 20.0)
    try:
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("*.started"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # both workers run a 20 s job
        w.signal_group(signal.SIGINT)
        time.sleep(0.3)
        w.signal_group(signal.SIGINT)
        results, waited = _interrupted(w, "", signal.SIGINT, timeout=10)
    finally:
        w.stop()
    assert results == [] and waited < 5
    assert not list(tmp_path.glob("j*.txt"))


def test_sigint_stops_a_batch_started_with_sigint_ignored(tmp_path):
    """A non-interactive shell starts `batch &` with SIGINT ignored; an explicit `kill -INT` must still stop it
    in order (report, exit 130), so scripts and harnesses can interrupt a background batch."""

    def ignore_sigint():  # what a non-interactive shell does for `batch &`
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    w = _batch(tmp_path, 30, 0.2, preexec_fn=ignore_sigint)
    try:
        text = _read_until_results(w, 1)
        os.kill(w.proc.pid, signal.SIGINT)
        results, waited = _interrupted(w, text, signal.SIGINT)
    finally:
        w.stop()
    assert waited < 5 and 1 <= len(results) < 30


def test_sighup_ignored_by_nohup_stays_ignored_sigterm_stops(tmp_path):
    def ignore_sighup():  # nohup
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    w = _batch(tmp_path, 30, 0.2, preexec_fn=ignore_sighup)
    try:
        text = _read_until_results(w, 1)
        os.kill(w.proc.pid, signal.SIGHUP)
        text = _read_until_results(w, 4, text)  # still running after the hang-up
        os.kill(w.proc.pid, signal.SIGTERM)
        results, waited = _interrupted(w, text, signal.SIGTERM)
    finally:
        w.stop()
    assert 4 <= len(results) < 30


def test_handlers_are_restored_after_the_batch(tmp_path):
    assert threading.current_thread() is threading.main_thread()
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    _run(make_jobs(tmp_path, 2), EngineSpec(workers=1), func=write_job)
    assert {s: signal.getsignal(s) for s in before} == before


def test_the_worker_warm_up_list_names_real_modules():
    import importlib

    from labelmap.cli.batch.worker import WARM_MODULES

    for name in WARM_MODULES:
        importlib.import_module(name)  # a renamed module would silently cost every worker's first job

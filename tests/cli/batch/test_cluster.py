"""The batch engine on an existing cluster: a real ``dask scheduler`` + ``dask worker`` pair on 127.0.0.1
started here (and stopped by pid), reached by scheduler file and by address; a worker killed mid-batch;
preflight failures as one-line errors; Ctrl-C that leaves the cluster running."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

pytest.importorskip("distributed")

from _batchjobs import make_jobs, pid_of, write_job
from _procs import TESTS, Watched, descendants, python, wait_gone

from labelmap.cli.batch.engine import EngineSpec, run_jobs
from labelmap.errors import ClusterError, LabelmapError

DASK = str(Path(sys.executable).parent / "dask")


def _cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


class DaskPair:
    """``dask scheduler`` and one ``dask worker`` (nanny + worker process) on loopback."""

    def __init__(self, root: Path, worker_env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.root = root
        self.file = root / "scheduler.json"
        log = open(root / "dask.log", "w")  # noqa: SIM115 - closed in stop()
        self.log = log
        self.scheduler = Watched(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
             str(self.file)], stdout=log, stderr=log)  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.file.is_file() or not self.file.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not write its file"
            time.sleep(0.05)
        time.sleep(0.05)
        self.address = json.loads(self.file.read_text())["address"]
        self.workers = [self.add_worker(worker_env, f"w{i}") for i in range(workers)]
        self.wait_for_workers(workers)

    def add_worker(self, extra_env: dict[str, str] | None = None, name: str = "w") -> Watched:
        return Watched(
            [DASK, "worker", self.address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
             "--no-dashboard", "--name", name], extra_env=extra_env, stdout=self.log, stderr=self.log)  # fmt: skip

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=20) as client:
            client.wait_for_workers(n, timeout=30)

    def worker_process(self, w: Watched) -> int:
        """The pid of the worker process under a ``dask worker`` nanny."""
        deadline = time.monotonic() + 20
        while True:
            kids = [p for p in descendants(w.proc.pid) if "spawn_main" in " ".join(_cmdline(p))]
            if kids:  # (not the resource tracker that multiprocessing also starts)
                return kids[0]
            assert time.monotonic() < deadline
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.scheduler.proc.poll() is None

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.scheduler.stop()
        left = wait_gone({**self.scheduler.seen, **{k: v for w in self.workers for k, v in w.seen.items()}})
        self.log.close()
        assert left == [], "dask processes left behind"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    p = DaskPair(tmp_path_factory.mktemp("dask"))
    yield p
    p.stop()


def test_batch_by_scheduler_file_runs_on_the_clusters_worker(pair, tmp_path, capfd):
    results = {}
    spec = EngineSpec(scheduler_file=str(pair.file))
    jobs = make_jobs(tmp_path, 6, 0.01)
    outcome = run_jobs(jobs, spec, manifest_dir=str(tmp_path), on_result=lambda r: results.update({r.index: r}),
                       func=write_job)  # fmt: skip
    assert outcome.signal is None and sorted(results) == list(range(6))
    assert {r.status for r in results.values()} == {"ok"}
    worker = pair.worker_process(pair.workers[0])
    assert {pid_of(r) for r in results.values()} == {worker}  # ran over there, not in this process
    assert results[0].warnings == ["threads=0", "retries=0"]  # on a cluster the job decides its threads
    assert pair.alive() and pair.file.is_file()  # never stopped a cluster it did not start
    pair.wait_for_workers(1)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_batch_by_address_survives_a_killed_worker(pair, tmp_path):
    results = {}
    killed = []

    def on_result(r):
        results[r.index] = r
        if len(results) == 2 and not killed:
            killed.append(pid_of(r))
            os.kill(killed[0], signal.SIGKILL)  # the worker process; its nanny starts another

    spec = EngineSpec(scheduler=pair.address)
    outcome = run_jobs(make_jobs(tmp_path, 10, 0.1), spec, manifest_dir=str(tmp_path), on_result=on_result,
                       func=write_job)  # fmt: skip
    assert outcome.signal is None and sorted(results) == list(range(10))
    assert {r.status for r in results.values()} == {"ok"}
    assert all((tmp_path / f"j{i}.txt").is_file() for i in range(10))
    assert killed[0] not in {pid_of(r) for r in list(results.values())[3:]}
    assert pair.alive()
    pair.wait_for_workers(1)


def test_a_wrong_address_is_one_quick_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    start = time.monotonic()
    with pytest.raises(ClusterError) as info:
        run_jobs(make_jobs(tmp_path, 1), EngineSpec(scheduler=f"tcp://127.0.0.1:{port}"), manifest_dir=str(tmp_path),
                 on_result=lambda r: None, func=write_job)  # fmt: skip
    assert time.monotonic() - start < 3
    text = str(info.value)
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in text and "\n" not in text
    assert isinstance(info.value, LabelmapError)


def test_a_missing_scheduler_file_is_one_line(tmp_path):
    with pytest.raises(ClusterError) as info:
        run_jobs(make_jobs(tmp_path, 1), EngineSpec(scheduler_file=str(tmp_path / "none.json")),
                 manifest_dir=str(tmp_path), on_result=lambda r: None, func=write_job, connect_timeout=0.3)  # fmt: skip
    assert "none.json: no scheduler file after 0.3 s" in str(info.value)
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ClusterError, match="not a Dask scheduler file"):
        run_jobs(make_jobs(tmp_path, 1), EngineSpec(scheduler_file=str(tmp_path / "bad.json")),
                 manifest_dir=str(tmp_path), on_result=lambda r: None, func=write_job)  # fmt: skip


def test_a_worker_that_cannot_see_the_manifest_folder_fails_the_preflight(pair, tmp_path):
    hidden = tmp_path / "not-on-the-workers"  # what a folder on a disk only this machine has looks like there
    with pytest.raises(ClusterError) as info:
        run_jobs(make_jobs(tmp_path, 1), EngineSpec(scheduler=pair.address), manifest_dir=str(hidden),
                 on_result=lambda r: None, func=write_job)  # fmt: skip
    text = str(info.value)
    assert text.startswith(f"{hidden}: 1 of 1 Dask workers (tcp://127.0.0.1:") and "cannot see the manifest" in text
    assert "shared filesystem" in text and "\n" not in text
    assert not list(tmp_path.glob("j*.txt"))  # nothing ran


def test_a_resource_no_worker_offers_fails_the_preflight(pair, tmp_path):
    with pytest.raises(ClusterError) as info:
        run_jobs(make_jobs(tmp_path, 1), EngineSpec(scheduler=pair.address, worker_resource="labelmap"),
                 manifest_dir=str(tmp_path), on_result=lambda r: None, func=write_job)  # fmt: skip
    assert "offers the resource 'labelmap'" in str(info.value) and "--resources labelmap=1" in str(info.value)
    assert not list(tmp_path.glob("j*.txt"))


@pytest.mark.filterwarnings("ignore:Port 8787")
def test_a_cluster_without_workers_fails_the_preflight_in_time(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as empty:  # a scheduler alone
        start = time.monotonic()
        with pytest.raises(ClusterError) as info:
            run_jobs(make_jobs(tmp_path, 1), EngineSpec(scheduler=empty.scheduler_address), manifest_dir=str(tmp_path),
                     on_result=lambda r: None, func=write_job, worker_wait=0.5)  # fmt: skip
        assert time.monotonic() - start < 5
    assert "no Dask worker joined the scheduler" in str(info.value) and "within 0.5 s" in str(info.value)


def test_ctrl_c_on_a_cluster_reports_running_jobs_and_leaves_the_cluster_running(pair, tmp_path):
    w = Watched(python(str(TESTS / "_batchjobs.py"), "8", "1.5", str(tmp_path), "--scheduler", pair.address),
                stdout=-1, stderr=-1, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("*.started")) and time.monotonic() < deadline:
            time.sleep(0.05)
        w.signal_group(signal.SIGINT)
        rc, waited = w.finish(15)
        out, err = w.proc.communicate()
    finally:
        w.stop()
    assert rc == 0 and err == "", (rc, out, err)
    assert waited < 3  # a cluster's running jobs are not awaited
    assert wait_gone(w.seen) == []
    outcome = [x for x in out.split("\n") if x.startswith("outcome")]
    running = [int(i) for i in outcome[0].split()[2].split(",")]
    assert outcome[0].startswith("outcome 2 ") and running, out
    started = {int(p.name[1:].split(".")[0]) for p in tmp_path.glob("*.started")}
    assert started <= set(running)  # every job that started is reported as maybe completed
    time.sleep(2.0)
    assert (tmp_path / f"j{running[0]}.txt").is_file()  # it completed over there
    assert pair.alive()
    pair.wait_for_workers(1)


def _fake_site(root: Path, labelmap_version: str | None = None, toolz_version: str | None = None) -> dict[str, str]:
    """A folder put first on a worker's PYTHONPATH that changes what that worker has installed: a
    labelmap reporting another version (its modules are still this checkout's), or toolz metadata of
    another version (what ``importlib.metadata``, and so Dask's version check, reads)."""
    import labelmap

    site = root / "site"
    if labelmap_version:
        pkg = site / "labelmap"
        pkg.mkdir(parents=True)
        real = Path(labelmap.__file__).parent
        (pkg / "__init__.py").write_text(f"__path__.append({str(real)!r})\n__version__ = {labelmap_version!r}\n")
    if toolz_version:
        meta = site / f"toolz-{toolz_version}.dist-info"
        meta.mkdir(parents=True)
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: toolz\nVersion: {toolz_version}\n")
    from _procs import REPO

    return {"PYTHONPATH": os.pathsep.join([str(site), str(REPO), str(TESTS)])}


@pytest.mark.slow
@pytest.mark.parametrize(
    "fake, words",
    [
        ({"labelmap_version": "0.0.0+other"}, "runs labelmap 0.0.0+other but this machine has"),
        ({"toolz_version": "0.0.1"}, "has toolz 0.0.1 but this machine has"),
    ],
)
def test_a_worker_with_other_versions_fails_the_preflight(tmp_path, fake, words):
    other = DaskPair(tmp_path, worker_env=_fake_site(tmp_path, **fake))
    try:
        with pytest.raises(ClusterError) as info:
            run_jobs(make_jobs(tmp_path, 1), EngineSpec(scheduler=other.address), manifest_dir=str(tmp_path),
                     on_result=lambda r: None, func=write_job)  # fmt: skip
        text = str(info.value)
        assert words in text and "install the same version" in text and "\n" not in text, text
        assert not list(tmp_path.glob("j*.txt"))
    finally:
        other.stop()


@pytest.mark.slow
def test_a_scheduler_that_dies_mid_batch_fails_the_jobs_in_one_line_each(tmp_path):
    doomed = DaskPair(tmp_path)
    try:
        results = {}

        def on_result(r):
            results[r.index] = r
            if len(results) == 2:
                os.kill(doomed.scheduler.proc.pid, signal.SIGKILL)

        start = time.monotonic()
        outcome = run_jobs(make_jobs(tmp_path, 12, 0.2), EngineSpec(scheduler=doomed.address),
                           manifest_dir=str(tmp_path), on_result=on_result, func=write_job)  # fmt: skip
        assert time.monotonic() - start < 20
    finally:
        doomed.stop()
    assert outcome.signal is None and sorted(results) == list(range(12))
    lost = [r for r in results.values() if r.status == "failed"]
    assert lost and all(r.error.startswith("lost the connection to the Dask scheduler") for r in lost)
    assert all("--resume" in r.error and "\n" not in r.error for r in lost)


@pytest.mark.filterwarnings("ignore:Port 8787")
def test_ctrl_c_while_waiting_for_a_worker_stops_at_once(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as empty:  # a scheduler alone
        args = python(str(TESTS / "_batchjobs.py"), "3", "0", str(tmp_path), "--scheduler", empty.scheduler_address)
        w = Watched(args, stdout=-1, stderr=-1, text=True, start_new_session=True)
        try:
            time.sleep(2.0)  # connected by now, waiting up to 60 s for a worker
            w.signal_group(signal.SIGINT)
            rc, waited = w.finish(10)
            out, err = w.proc.communicate()
        finally:
            w.stop()
    assert rc == 0 and err == "" and waited < 3, (rc, out, err, waited)
    assert out.strip().split("\n")[-1] == "outcome 2 -"
    assert not list(tmp_path.glob("j*"))

"""Dask worker preload for local batch workers: the client alone handles Ctrl-C, and jobs start warm.

:func:`labelmap.cli.batch.engine.run_jobs` starts its ``LocalCluster`` with ``preload=[__name__]``;
Dask imports this module in every worker process and calls :func:`dask_setup` on the worker's
main thread before the worker takes a task.  The signal settings live in :func:`dask_setup`, not at
import, because a forked worker inherits this module already imported from the client.
"""

from __future__ import annotations

import signal
from typing import Any

__all__ = ["dask_setup", "quiet_signals", "quiet_stderr", "warm_up", "WARM_MODULES"]


def quiet_signals() -> None:
    """Ignore SIGINT (a terminal's Ctrl-C reaches the whole process group: without this, every worker
    prints a ``KeyboardInterrupt`` traceback while the client is winding the batch down) and give
    SIGTERM back its default (a forked worker would inherit the client's batch handler and so ignore
    its nanny's ``terminate``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


#: What a job's first itk2seg / seg2itk imports (measured: a first job took 0.73 s where the next took
#: 0.05 s; importing these first leaves 0.1 s).  A name that no longer imports only costs warm-up.
WARM_MODULES = (
    "labelmap.cli.app",
    "labelmap.cli.native",
    "labelmap.pipeline.convert",
    "labelmap.pipeline.slide_api",
    "labelmap.dicom.read",
    "labelmap.dicom.write",
    "labelmap.formats.nrrd",
    "labelmap.formats.nifti",
    "labelmap.formats.segnrrd",
    "labelmap.formats.dcmqi_json",
    "labelmap.sources.series",
    "labelmap.seg.encode",
    "labelmap.seg.encode_classic",
    "labelmap.seg.decode",
    "labelmap.seg.read",
    "labelmap.kernels",
    "labelmap._util.deflate",
)


def warm_up() -> None:
    """Import what a job's first conversion would (and build the command line's parser), so that a
    worker's first job costs what the others do.  The engine calls it in the client before it forks
    its local workers (they, and any worker a nanny restarts, inherit it all); :func:`dask_setup` calls
    it again, which costs nothing then and warms a worker started any other way."""
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - a renamed module; tests check the list imports
            pass
    from labelmap.cli import app

    build = getattr(app, "_command", None)  # the parser, cached per process
    if callable(build):
        build()


def quiet_stderr() -> None:
    """Send this worker's stderr to /dev/null (``LABELMAP_DEBUG=1`` keeps it): its logs are silenced
    already, but a worker whose cluster closes while it starts up (a nanny restarting it after a
    death) can still print a traceback from multiprocessing's bootstrap.  The batch reports worker
    deaths itself, so nothing a local worker could print is for the user."""
    import os
    import sys

    if os.environ.get("LABELMAP_DEBUG"):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    except OSError:  # pragma: no cover
        pass


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, called once per worker process start (also after a restart by its nanny).

    Parameters
    ----------
    worker
        The ``distributed.Worker`` being started (unused: the settings are per process).
    """
    quiet_signals()
    quiet_stderr()
    warm_up()

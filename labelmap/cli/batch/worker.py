"""Dask worker preload for local batch workers: the client alone handles Ctrl-C, and jobs start warm.

:func:`labelmap.cli.batch.engine.run_jobs` starts its ``LocalCluster`` with ``preload=[__name__]``;
Dask imports this module in every worker process and calls :func:`dask_setup` on the worker's
main thread before the worker takes a task.  The signal settings live in :func:`dask_setup`, not at
import, because a forked worker inherits this module already imported from the client.
"""

from __future__ import annotations

import signal
from typing import Any

__all__ = ["dask_setup", "quiet_signals", "warm_up"]


def quiet_signals() -> None:
    """Ignore SIGINT (a terminal's Ctrl-C reaches the whole process group: without this, every worker
    prints a ``KeyboardInterrupt`` traceback while the client is winding the batch down) and give
    SIGTERM back its default (a forked worker would inherit the client's batch handler and so ignore
    its nanny's ``terminate``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def warm_up() -> None:
    """Import the converter (the CLI app and what a conversion loads) so that a worker's first job costs
    what the others do: a spawned worker starts with nothing imported, a forked one has it already."""
    import labelmap.cli.app  # noqa: F401  (the command line a job runs)
    import labelmap.pipeline.convert  # noqa: F401  (readers, writers, kernels)


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, called once per worker process start (also after a restart by its nanny).

    Parameters
    ----------
    worker
        The ``distributed.Worker`` being started (unused: the settings are per process).
    """
    quiet_signals()
    warm_up()

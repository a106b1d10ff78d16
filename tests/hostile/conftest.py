"""Session fixtures of the hostile suite: the base inputs, and a runner that executes the selected
cases in parallel threads (each case is a child process) while the tests check them in order."""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _base import Base, make_base  # noqa: E402
from _harness import MAX_SECONDS, Case, Outcome, Run, execute, problems  # noqa: E402
from known import KNOWN, KNOWN_TIMEOUT  # noqa: E402

#: Write every selected case's outcome as JSON to this file at the end (for FAILURES.md).
REPORT_ENV = "HOSTILE_REPORT"


class Runner:
    def __init__(self, base: Base, root: Path, cases: list[Case]) -> None:
        workers = int(os.environ.get("HOSTILE_WORKERS", "0")) or min(4, (os.cpu_count() or 2) + 1)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hostile")
        self.futures: dict[str, Future] = {}
        self.base, self.root = base, root
        for case in cases:
            self.submit(case)

    def submit(self, case: Case) -> Future:
        if case.id not in self.futures:
            folder = self.root / case.id.replace("/", "__").replace("^", "pow")
            self.futures[case.id] = self.pool.submit(
                execute, case, self.base, folder, KNOWN_TIMEOUT if case.id in KNOWN else MAX_SECONDS
            )
        return self.futures[case.id]

    def result(self, case: Case) -> tuple[Run | None, Outcome]:
        return self.submit(case).result()


@pytest.fixture(scope="session")
def hostile_base(tmp_path_factory) -> Base:
    return make_base(tmp_path_factory.mktemp("hostile-base"))


@pytest.fixture(scope="session")
def hostile_runner(request, hostile_base, tmp_path_factory):
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_hostile" and hasattr(item, "callspec")
    ]
    runner = Runner(hostile_base, tmp_path_factory.mktemp("hostile-cases"), selected)
    yield runner
    runner.pool.shutdown(wait=True, cancel_futures=True)
    report = os.environ.get(REPORT_ENV)
    if report:
        rows = []
        for case in selected:
            future = runner.futures.get(case.id)
            if future is None or not future.done() or future.cancelled():
                continue
            run, outcome = future.result()
            rows.append(
                {
                    "id": case.id,
                    "group": case.group,
                    "argv": outcome.argv,
                    "root": outcome.root,
                    "rc": outcome.rc,
                    "seconds": round(outcome.seconds, 2),
                    "peak_mb": round(outcome.peak_rss / 1e6),
                    "stderr": outcome.stderr[-2000:],
                    "problems": problems(run or Run([]), outcome),
                }
            )
        Path(report).write_text(json.dumps(rows, indent=1))

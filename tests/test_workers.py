"""Child worker processes: results and errors come back as if the call ran here."""
from __future__ import annotations

import pytest

from etl.storage import StorageError
from etl.workers import ChildProcessPool


def _raise_storage_error(where: str):
    raise StorageError(f"cannot read {where}")


def _exit_hard(code: int):
    import os

    os._exit(code)


def test_results_come_back_in_order():
    pool = ChildProcessPool(2, preload="etl.storage")
    try:
        jobs = [pool.submit(divmod, n, 7) for n in (20, 50, 9)]  # a third call gets a new child
        assert [job.result() for job in jobs] == [(2, 6), (7, 1), (1, 2)]
    finally:
        pool.shutdown()


def test_an_error_keeps_its_type_and_message():
    pool = ChildProcessPool(1, preload="etl.storage")
    try:
        job = pool.submit(_raise_storage_error, "s3://bucket/raw/x.json")
        with pytest.raises(StorageError, match=r"cannot read s3://bucket/raw/x\.json"):
            job.result()
    finally:
        pool.shutdown()


def test_a_worker_that_dies_is_reported():
    from etl.workers import WorkerError

    pool = ChildProcessPool(1, preload="etl.storage")
    try:
        job = pool.submit(_exit_hard, 3)
        with pytest.raises(WorkerError, match="exit code 3"):
            job.result()
    finally:
        pool.shutdown()


def test_unused_children_leave_on_shutdown():
    pool = ChildProcessPool(2, preload="etl.storage")
    children = [child._process for child in pool._idle]
    pool.shutdown()
    assert [process.returncode for process in children] == [0, 0]

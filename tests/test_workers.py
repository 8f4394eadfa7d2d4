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


def test_the_validation_child_answers_like_in_process_validation_in_order():
    import pyarrow as pa

    from etl.validate import SideValidator

    samples = [pa.table({"time": [1, 2], "class_uid": [4001, 9]}), pa.table({"time": [1, 5], "class_uid": [4001, 4002]})]
    results = {}
    for in_process in (True, False):
        validator = SideValidator(in_process=in_process)
        try:
            pending = [validator.submit(s, "ocsf", None, f"s{i}") for i, s in enumerate(samples)]
            results[in_process] = [p.result() for p in pending]
        finally:
            validator.close()
    assert results[True] == results[False]
    assert [r["success"] for r in results[False]] == [False, True]

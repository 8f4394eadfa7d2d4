"""Validation: exact Arrow checks on every row, Great Expectations on a sample.

The Arrow checks decide what is quarantined. GX runs the same declared rules (see
`etl.schema.gx_expectations`) over a deterministic sample and its summary goes into the
manifest, as an independent second opinion on the same contract.
"""
from __future__ import annotations

import logging
import os

import pyarrow as pa

from etl import schema

# GX must never phone home (no network at run time) and its progress bars are noise in task logs.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TQDM_DISABLE", "1")

GX_SAMPLE_ROWS = 20_000
_context = None


def _gx_context():
    global _context
    if _context is None:
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        import great_expectations as gx

        from great_expectations.data_context.types.base import ProgressBarsConfig

        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _context.data_sources.add_pandas("rows")
    return _context


def sample_rows(table: pa.Table, limit: int = GX_SAMPLE_ROWS) -> pa.Table:
    """Every n-th row, deterministic, at most `limit` rows."""
    if table.num_rows <= limit:
        return table
    step = -(-table.num_rows // limit)
    return table.take(pa.array(range(0, table.num_rows, step)))


def gx_validate(table: pa.Table, decl: dict, scope: str | None = None, name: str = "rows") -> dict:
    """Run the declared rules as a GX suite on a sample; returns a JSON-able summary."""
    sample = sample_rows(table)
    expectations = schema.gx_expectations(decl, sample.column_names, scope)
    summary = {"suite": f"{decl['name']}.{scope or 'all'}", "rows_checked": sample.num_rows,
               "rows_total": table.num_rows, "expectations": []}
    if sample.num_rows == 0 or not expectations:
        summary["success"] = True
        return summary
    import great_expectations as gx

    context = _gx_context()
    source = context.data_sources.get("rows")
    asset_name = f"{name}-{scope or 'all'}"
    try:
        asset = source.get_asset(asset_name)
        batch_definition = asset.get_batch_definition("whole")
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": sample.to_pandas()})
    suite = gx.ExpectationSuite(name=summary["suite"])
    for expectation in expectations:
        suite.add_expectation(expectation)
    result = batch.validate(suite, result_format="SUMMARY")
    for item in result.results:
        config = item.expectation_config
        summary["expectations"].append({
            "type": config.type,
            "column": config.kwargs.get("column"),
            "success": bool(item.success),
            "unexpected_count": int((item.result or {}).get("unexpected_count") or 0),
        })
    summary["success"] = bool(result.success)
    return summary


def _validate_named(table: pa.Table, decl_name: str, scope: str | None, name: str) -> dict:
    import schemas

    return gx_validate(table, schemas.load(decl_name), scope, name)


def _warm_up() -> bool:
    _gx_context()
    return True


class SideValidator:
    """Great Expectations in a separate process, so its slow import and its work overlap the
    pipeline's own (two cores). In-process when asked (small inputs: nothing to overlap) or
    where a child process cannot be started (e.g. inside a daemonic worker)."""

    def __init__(self, in_process: bool = False):
        self._pool = None
        if in_process:
            return
        try:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            self._pool.submit(_warm_up)
        except (AssertionError, OSError, RuntimeError):
            self._pool = None

    def submit(self, table: pa.Table, decl_name: str, scope: str | None, name: str):
        sample = sample_rows(table)
        if self._pool is not None:
            try:
                return self._pool.submit(_validate_named, sample, decl_name, scope, name)
            except RuntimeError:
                self._pool = None
        from concurrent.futures import Future

        done: Future = Future()
        done.set_result(_validate_named(sample, decl_name, scope, name))
        return done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

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


def warm_up() -> None:
    """Import GX and build its context (seconds): the validation child does it before any sample."""
    _gx_context()


class _Done:
    def __init__(self, value: dict):
        self._value = value

    def result(self) -> dict:
        return self._value


class _Pending:
    def __init__(self, validator: "SideValidator"):
        self._validator, self._value, self._ready = validator, None, False

    def result(self) -> dict:
        if not self._ready:
            self._validator._collect()
        return self._value


class SideValidator:
    """Great Expectations in a child process (the same worker protocol as the day's parts,
    `etl.workers`), so its slow import and its work overlap the pipeline's own on the second
    core. Results come back in order. In-process when asked (small inputs: nothing to overlap)
    or when the child cannot be started."""

    def __init__(self, in_process: bool = False):
        self._child = None
        self._waiting: list[_Pending] = []
        if in_process:
            return
        from etl.workers import _Child

        try:
            self._child = _Child("etl.validate:warm_up")
        except OSError:
            self._child = None

    def submit(self, table: pa.Table, decl_name: str, scope: str | None, name: str):
        sample = sample_rows(table)
        if self._child is None:
            return _Done(_validate_named(sample, decl_name, scope, name))
        self._child.submit(_validate_named, sample, decl_name, scope, name, more=True)
        pending = _Pending(self)
        self._waiting.append(pending)
        return pending

    def _collect(self) -> None:
        for pending in self._waiting:
            if not pending._ready:
                pending._value, pending._ready = self._child.result(), True

    def close(self) -> None:
        if self._child is not None:
            self._child.close()

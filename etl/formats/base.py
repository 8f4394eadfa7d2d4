"""Types shared by the format modules."""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass
class Classified:
    """What one parsed file contains, every row accounted for exactly once.

    `rejected`: rows that broke a declared rule: input_line, reason, ts (may be null).
    `tables`: named tables of accepted rows, each with a `ts` column; the `skipped` table
    holds valid rows that are not transactions (ts, reason).
    """
    rejected: pa.Table
    tables: dict[str, pa.Table] = field(default_factory=dict)

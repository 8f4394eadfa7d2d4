"""Every snippet in docs/questions.md runs against a built lake (answers may be empty for the
example names; the queries and column names must hold)."""
from __future__ import annotations

import re

from etl.pipeline import run_day
from tests.conftest import DEMO_DAY, REPO


def test_the_questions_page_snippets_run_on_a_built_lake(generated_lake, monkeypatch):
    run_day(str(generated_lake), DEMO_DAY)
    text = (REPO / "docs" / "questions.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 10
    monkeypatch.chdir(generated_lake.parent)  # the page reads ./lake
    namespace: dict = {}
    for block in blocks:
        exec(compile(block.replace("2026-11-22", DEMO_DAY.isoformat()), "docs/questions.md", "exec"), namespace)

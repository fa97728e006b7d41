"""pytest configuration for `pytest --nbval nbs/`.

`nbdev-clean` nulls execution counts, and nbval treats a cell with a null count as "never run"
and so would not compare its outputs. We renumber code cells so that every stored output is
checked, and we skip the cells nbdev itself does not run (`#| eval: false`, and flagged `#| slow`).
"""
import re

_SKIP = re.compile(r"^\s*#\s*\|\s*(eval\s*:\s*false|slow)\b", re.MULTILINE)


def pytest_collection_modifyitems(config, items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None or getattr(cell, "cell_type", None) != "code": continue
        if cell.get("execution_count") is None: cell["execution_count"] = item.cell_num + 1
        if _SKIP.search(cell.source): item.options["skip"] = True

"""Render README.md from nbs/index.ipynb offline (quarto cannot be installed here).

`python tools/readme.py` writes README.md; `python tools/readme.py --check` exits 1 if it is stale.
Cells marked `#| hide` are dropped, cells marked `#| echo: false` keep only their outputs, and nbdev `#|` directive
lines are stripped, as nbdev-readme does.
"""
import re, sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
_DIRECTIVE = re.compile(r"^\s*#\s*\|.*$\n?", re.MULTILINE)
_NO_ECHO = re.compile(r"^\s*#\s*\|\s*echo:\s*false\b", re.MULTILINE)


def render() -> str:
    nb = nbformat.read(ROOT / "nbs" / "index.ipynb", as_version=4)
    cells = []
    for c in nb.cells:
        if c.cell_type == "code" and re.search(r"^\s*#\s*\|\s*hide\b", c.source, re.MULTILINE): continue
        if c.cell_type == "code" and _NO_ECHO.search(c.source): c.metadata["tags"] = ["remove_input"]
        if c.cell_type == "code": c.source = _DIRECTIVE.sub("", c.source)
        cells.append(c)
    nb.cells = cells
    nb.metadata["language_info"] = {"name": "python"}  # nbdev-clean strips it; it tags code blocks
    cfg = Config()
    cfg.TagRemovePreprocessor.enabled, cfg.TagRemovePreprocessor.remove_input_tags = True, {"remove_input"}
    body, _ = MarkdownExporter(config=cfg).from_notebook_node(nb)
    return re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"


if __name__ == "__main__":
    readme, text = ROOT / "README.md", render()
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is stale: run `python tools/readme.py` and commit it.")
        print("README.md is in sync with nbs/index.ipynb")
    else:
        readme.write_text(text)

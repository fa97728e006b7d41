"""Print the package's internal import graph and check that it points downhill.

`python tools/modgraph.py` lists, in reading order (the order of the notebooks in nbs/), every module of
`orthomlstm` with the modules of the package it imports (at the top or inside a function), then checks two rules:
the graph has no cycle, and every module imports only modules that come before it in reading order. The second rule
holds for every code cell of a notebook too (examples and tests): a room may use only its own and earlier modules.
It exits with status 1 and names the offending imports if a rule is broken.
`--markdown` prints the same list as a Markdown table (the one in nbs/index.ipynb).
"""
import ast, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = "orthomlstm"


def reading_order() -> list:
    "Modules in the order their notebooks are read (file-name order of nbs/*.ipynb, by `#| default_exp`)."
    order = []
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            m = re.search(r"^#\|\s*default_exp\s+(\S+)", "".join(cell["source"]), re.MULTILINE)
            if m:
                order.append((m.group(1), nb.name))
                break
    return order


def imports(module: str, source: str = None) -> set:
    "Modules of the package that `orthomlstm/<module>.py` (or `source`) imports, anywhere in its code (not in strings)."
    tree = ast.parse((ROOT / PKG / f"{module}.py").read_text() if source is None else source)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from .x import y` or `from . import x`
                names = [base] if base else [a.name for a in node.names]
            elif base == PKG:
                names = [a.name for a in node.names]
            elif base.startswith(PKG + "."):
                names = [base[len(PKG) + 1:]]
            else:
                continue
            out |= {n.split(".")[0] for n in names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith(PKG + ".")}
    return out - {module}


def graph() -> tuple:
    "(reading order [(module, notebook)], {module: set of imported modules})."
    order = reading_order()
    mods = {m for m, _ in order}
    return order, {m: imports(m) & mods for m, _ in order}


def problems(order: list, g: dict) -> list:
    "Imports that point uphill (to a module read later, or to itself through a cycle)."
    pos = {m: i for i, (m, _) in enumerate(order)}
    return [f"{m} ({nb}) imports {d} ({order[pos[d]][1]}), which comes later in reading order"
            for m, nb in order for d in sorted(g[m]) if pos[d] > pos[m]]


def cell_problems(order: list) -> list:
    "Code cells of a notebook that import a module of the package read after the notebook's own."
    pos, out = {m: i for i, (m, _) in enumerate(order)}, []
    for m, nb in order:
        for n, cell in enumerate(json.loads((ROOT / "nbs" / nb).read_text())["cells"]):
            if cell["cell_type"] != "code": continue
            src = "".join(cell["source"])
            src = "\n".join("pass" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines())
            try: later = {d for d in imports(m, src) if d in pos and pos[d] > pos[m]}
            except SyntaxError: continue
            out += [f"{nb} (cell {n}) imports {d} ({order[pos[d]][1]}), which comes later in reading order"
                    for d in sorted(later)]
    return out


def cycles(g: dict) -> list:
    "Strongly connected components with more than one module (Tarjan)."
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in g[v]:
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in g:
        if v not in index: visit(v)
    return out


def main(argv: list) -> int:
    order, g = graph()
    pos = {m: i for i, (m, _) in enumerate(order)}
    if "--markdown" in argv:
        print("| notebook | module | imports from the package |\n|---|---|---|")
        for m, nb in order:
            deps = ", ".join(f"`{d}`" for d in sorted(g[m], key=pos.get)) or "—"
            print(f"| `{nb[:-6]}` | `{PKG}.{m}` | {deps} |")
    else:
        for m, nb in order:
            print(f"{m:<14} <- {', '.join(sorted(g[m], key=pos.get)) or '(nothing of the package)'}")
    bad = [f"import cycle: {' <-> '.join(c)}" for c in cycles(g)] + problems(order, g) + cell_problems(order)
    for b in bad: print(f"modgraph: {b}", file=sys.stderr)
    if bad: return 1
    print(f"modgraph: {len(order)} modules, {sum(map(len, g.values()))} imports, no cycle, all downhill", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Make the solution-free student edition of the course notebooks.

    python scripts/make_student_edition.py [--src notebooks] [--dest student]

Copies SRC to DEST (DEST is wiped first). In every notebook:

* a code cell tagged ``solution`` keeps its imports and, for each top-level
  function, the ``def`` line(s) and the docstring; the body becomes
  ``raise NotImplementedError("your code here")``. A solution cell without a
  function becomes just that ``raise`` under a "your code here" comment;
* a markdown cell tagged ``solution`` becomes "*Your answer here.*";
* all outputs, execution counts and saved widget state are cleared.

Self-check cells are left untouched. Other files next to the notebooks are copied
as they are (except conftest.py and .ipynb_checkpoints).
"""
from __future__ import annotations

import argparse
import ast
import io
import shutil
import sys
import tokenize
from pathlib import Path

import nbformat

SOLUTION_TAG = "solution"
STUB = 'raise NotImplementedError("your code here")'
MARKDOWN_STUB = "*Your answer here.*"
SKIP = shutil.ignore_patterns(".ipynb_checkpoints", "conftest.py", "__pycache__", "*.pyc")


def _header_end(lines: list[str], def_lineno: int) -> tuple[int, int]:
    """(line, column) of the colon that ends the `def` header starting at `def_lineno`."""
    text = "\n".join(lines[def_lineno - 1:]) + "\n"
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.OP:
            if tok.string in "([{":
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
            elif tok.string == ":" and depth == 0:
                return def_lineno + tok.start[0] - 1, tok.start[1]
    raise ValueError("no ':' ending the def header")  # cannot happen for parsed code


def _function_stub(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """Decorators + signature + docstring of `node`, then the NotImplementedError body."""
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    hdr_line, hdr_col = _header_end(lines, node.lineno)
    kept = lines[first - 1:hdr_line - 1] + [lines[hdr_line - 1][:hdr_col + 1]]
    body0 = node.body[0]
    if body0.lineno > hdr_line:  # body on its own lines
        indent = " " * body0.col_offset
        if (isinstance(body0, ast.Expr) and isinstance(body0.value, ast.Constant)
                and isinstance(body0.value.value, str)):
            kept += lines[body0.lineno - 1:body0.end_lineno]
    else:  # one-liner `def f(x): return x`
        indent = " " * (node.col_offset + 4)
    return kept + [indent + STUB]


def stub_code(source: str) -> str:
    """The student version of one solution cell's source (see module docstring)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics etc.: no structure to keep
        tree = None
    lines = source.splitlines()
    out: list[str] = []
    n_defs = 0
    for node in (tree.body if tree else []):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.extend(lines[node.lineno - 1:node.end_lineno])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if out:
                out.append("")
                if n_defs:
                    out.append("")
            out.extend(_function_stub(lines, node))
            n_defs += 1
    if not n_defs:
        if out:
            out.append("")
        out += ["# your code here", STUB]
    return "\n".join(out) + "\n"


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_notebook(nb):
    """Return the student version of a notebook node (modified in place)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            if is_solution(cell):
                cell.source = stub_code(cell.source)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown" and is_solution(cell):
            cell.source = MARKDOWN_STUB
    nb.metadata.pop("widgets", None)
    return nb


def make_student_edition(src: Path, dest: Path) -> list[Path]:
    """Copy `src` to `dest` with every notebook converted. Returns the notebooks written."""
    src, dest = Path(src).resolve(), Path(dest).resolve()
    if not src.is_dir():
        raise ValueError(f"src: {src} is not a directory")
    if dest == src or src.is_relative_to(dest) or dest.is_relative_to(src):
        raise ValueError(f"dest: {dest} must be outside src {src} (and not contain it)")
    if dest.exists():
        if (dest / ".git").exists():
            raise ValueError(f"dest: refusing to wipe {dest}: it holds a .git folder")
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=SKIP)
    written = []
    for path in sorted(dest.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(student_notebook(nb), path)
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", default="notebooks", type=Path)
    parser.add_argument("--dest", default="student", type=Path)
    args = parser.parse_args(argv)
    written = make_student_edition(args.src, args.dest)
    for path in written:
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    print(f"student edition: {len(written)} notebook(s) in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""scripts/make_student_edition.py on a tiny synthetic notebook."""
import ast
import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output  # noqa: E402

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_student_edition.py"
_spec = importlib.util.spec_from_file_location("make_student_edition", SCRIPT)
mse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mse)

STUB = 'raise NotImplementedError("your code here")'

SOLUTION_SRC = '''import numpy as np

def conjugate_gradient(Avp, b,
                       max_iter=10):
    """Solve A x = b with A given as a product.

    Returns x.
    """
    x = np.zeros_like(b)
    r = b.copy()
    return x

def helper(v): return 2 * v
'''


def tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


def make_course(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    nb = new_notebook(cells=[
        new_markdown_cell("# Exercise"),
        tagged(new_code_cell(SOLUTION_SRC, execution_count=1, outputs=[
            new_output("stream", name="stdout", text="secret answer 42\n")]), "solution"),
        tagged(new_code_cell("theta = 0.5 * 3\ntheta", execution_count=2, outputs=[
            new_output("execute_result", data={"text/plain": "1.5"}, execution_count=2)]),
            "solution"),
        tagged(new_markdown_cell("The answer is: because KL is convex."), "solution"),
        tagged(new_code_cell("check(conjugate_gradient)", execution_count=3, outputs=[
            new_output("stream", name="stdout", text="ok\n")]), "self-check"),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, src / "01_demo.ipynb")
    (src / "figure.svg").write_text("<svg/>")
    (src / "conftest.py").write_text("# test-only\n")
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "01_demo-checkpoint.ipynb").write_text("{}")
    return src


def test_student_edition(tmp_path):
    src = make_course(tmp_path)
    dest = tmp_path / "student"
    written = mse.make_student_edition(src, dest)
    assert [p.name for p in written] == ["01_demo.ipynb"]

    nb = nbformat.read(dest / "01_demo.ipynb", as_version=4)
    nbformat.validate(nb)
    md, sol, sol_nodef, md_sol, check = nb.cells

    # function cell: imports + signatures + docstring kept, bodies gone
    assert sol.source == (
        "import numpy as np\n"
        "\n"
        "def conjugate_gradient(Avp, b,\n"
        "                       max_iter=10):\n"
        '    """Solve A x = b with A given as a product.\n'
        "\n"
        "    Returns x.\n"
        '    """\n'
        f"    {STUB}\n"
        "\n"
        "\n"
        "def helper(v):\n"
        f"    {STUB}\n"
    )
    ast.parse(sol.source)
    assert "zeros_like" not in sol.source and "2 * v" not in sol.source
    # no function: just the raise
    assert "0.5" not in sol_nodef.source and sol_nodef.source.rstrip().endswith(STUB)
    assert md_sol.source == mse.MARKDOWN_STUB
    # untouched cells, cleared outputs everywhere
    assert md.source == "# Exercise"
    assert check.source == "check(conjugate_gradient)"
    for cell in (sol, sol_nodef, check):
        assert cell.outputs == [] and cell.execution_count is None
    assert "widgets" not in nb.metadata
    assert "secret answer" not in (dest / "01_demo.ipynb").read_text()

    # other files copied, test-only files and checkpoints not
    assert (dest / "figure.svg").read_text() == "<svg/>"
    assert not (dest / "conftest.py").exists()
    assert not (dest / ".ipynb_checkpoints").exists()

    # the source notebook is unchanged
    orig = nbformat.read(src / "01_demo.ipynb", as_version=4)
    assert orig.cells[1].source == SOLUTION_SRC and orig.cells[1].outputs


def test_rerun_replaces_dest_and_refuses_bad_dest(tmp_path):
    src = make_course(tmp_path)
    dest = tmp_path / "student"
    mse.make_student_edition(src, dest)
    (dest / "stale.txt").write_text("old")
    mse.make_student_edition(src, dest)
    assert not (dest / "stale.txt").exists()
    with pytest.raises(ValueError, match="dest"):
        mse.make_student_edition(src, src)
    with pytest.raises(ValueError, match="dest"):
        mse.make_student_edition(src, src / "student")
    with pytest.raises(ValueError, match="src"):
        mse.make_student_edition(tmp_path / "missing", dest)


def test_main_cli(tmp_path, capsys):
    src = make_course(tmp_path)
    assert mse.main(["--src", str(src), "--dest", str(tmp_path / "out")]) == 0
    assert "1 notebook(s)" in capsys.readouterr().out
    assert (tmp_path / "out" / "01_demo.ipynb").exists()

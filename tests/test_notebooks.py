"""The stored notebooks follow the course's rules (COURSE.md, DESIGN.md): executed top to
bottom with outputs, no errors or warnings, objectives first and summary/exercises/references
last, every exercise followed by a self-check that passed, no cell exempt from
nbval, plots ended with plt.show(). (nbval itself checks that they still print the same.)"""
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_all_seven_chapters_are_present():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def nb(request):
    return json.loads(request.param.read_text())


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_executed_in_order_with_outputs_and_no_errors_or_stderr(nb):
    cells = code_cells(nb)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    for cell in cells:
        for out in cell["outputs"]:
            assert out["output_type"] != "error", "".join(cell["source"])[:80]
            assert out.get("name") != "stderr", "".join(out.get("text", ""))[:200]


def test_opens_with_objectives_and_recap_and_ends_with_summary_exercises_references(nb):
    markdown = ["".join(c["source"]).lower() for c in nb["cells"] if c["cell_type"] == "markdown"]
    head = " ".join(markdown[:3])
    assert "objective" in head and "recap" in head
    text = " ".join(markdown)
    for heading in ("summary", "exercise", "references"):
        assert heading in text, heading


def test_every_exercise_is_followed_by_a_passing_self_check(nb):
    cells = nb["cells"]
    solutions = [i for i, c in enumerate(cells) if "solution" in c["metadata"].get("tags", [])]
    assert 2 <= len(solutions) <= 4, "2-4 exercises"
    for i in solutions:
        assert "".join(cells[i]["source"]).lstrip().startswith(("def ", "import ", "from ")), \
            "a solution cell starts with its imports or its def line"
        checker = cells[i + 1]
        assert checker["cell_type"] == "code" and "check" in "".join(checker["source"])
        printed = "".join("".join(o.get("text", "")) for o in checker["outputs"])
        assert "passed" in printed, printed[:200]


def test_no_cell_is_exempt_from_nbval(nb):
    """Every output is compared, the explorers' too: their text is a fixed one-line summary of
    the initial state (the PNG beside it and the widget view are what nbval skips)."""
    for cell in code_cells(nb):
        tags = cell["metadata"].get("tags", [])
        assert "nbval-skip" not in tags and "nbval-ignore-output" not in tags, "".join(cell["source"])[:80]


def test_explorer_cells_store_a_picture_and_a_summary(nb):
    """Before a kernel runs, an explorer cell shows a static figure of its initial state."""
    for cell in code_cells(nb):
        if "explorer(" not in "".join(cell["source"]).splitlines()[-1]:
            continue
        (out,) = [o for o in cell["outputs"] if o["output_type"] == "execute_result"]
        assert {"image/png", "text/plain", "application/vnd.jupyter.widget-view+json"} <= set(out["data"])
        assert "run the notebook to move the sliders" in "".join(out["data"]["text/plain"])


def test_plot_cells_show_their_figure_and_display_no_stray_result(nb):
    """A figure is shown with plt.show() (a trailing ';' does not hide results under nbval), and
    a cell's last statement is not an expression whose value would be displayed."""
    for cell in code_cells(nb):
        source = "".join(cell["source"])
        if "plt.subplots" in source or "plt.figure" in source:
            assert "plt.show()" in source, source[:80]
        if "explorer(" not in source.splitlines()[-1]:          # an explorer is the cell's result
            results = [o for o in cell["outputs"] if o["output_type"] == "execute_result"]
            assert not results, f"cell displays a stray result: {source[-80:]}"


def test_no_notebook_prints_a_memory_address_or_a_path(nb):
    for cell in code_cells(nb):
        for out in cell["outputs"]:
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert " at 0x" not in text and "/work/" not in text and "/tmp/" not in text, text[:200]

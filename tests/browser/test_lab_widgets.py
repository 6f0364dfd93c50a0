"""The notebooks' widgets in a real JupyterLab (headless Debian chromium, Playwright for Python).

For each notebook with an explorer: open it, Run > Run All Cells as a student would, wait for
the kernel and every cell, check that no cell wrote an error or to stderr and that every
widget rendered, then move the sliders (keyboard on the noUiSlider handle, and one drag) and
check that the slider's readout and the figure of its explorer changed (the pixels: a new PNG
or a redrawn ipympl canvas; labdriver.FIGURE_JS). The sliders are found by
their descriptions (the explorers are in trpo_lite/course/). One more test runs a small
``%matplotlib widget`` notebook: the locked ipympl renders a canvas that redraws in place.
"""
import os
import re
import time

import pytest

pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")
from labdriver import (
    EXPLORER,
    check_no_errors,
    count_cells,
    explorer_of,
    figure_count,
    figure_kind,
    figure_signature,
    find_slider,
    open_and_run_all,
    wait_figure_changed,
)
from playwright.sync_api import expect

RUN_ALL_TIMEOUT = float(os.environ.get("BROWSER_RUN_ALL_TIMEOUT", 300)) * 1000   # ms
NEWS_TOAST = re.compile(r"notified about official Jupyter news", re.I)

# notebook -> the slider moves: (slider description, key or "drag-to-end", direction)
# 06: max_backtracks 10 -> 9 would leave the figure unchanged (the search accepts at
# attempt 4), so it goes to 0 (Home): one attempt, "line search failed".
PLANS = {
    "01_policy_gradient": [("lr", "ArrowRight", +1), ("lr", "drag-to-end", +1)],
    "02_kl_and_fisher": [("delta", "ArrowRight", +1)],
    "03_natural_gradient": [("delta", "ArrowRight", +1), ("damping", "ArrowRight", +1)],
    "04_conjugate_gradient": [("iterations", "ArrowRight", +1), ("kappa(A)", "ArrowRight", +1)],
    # 05: the scale starts at 1 (its maximum): down a step, then to 1e-4 (Home), where the
    # state-blind run keeps losing return
    "05_monotonic_improvement": [("scale s", "ArrowLeft", -1), ("scale s", "Home", -1)],
    "06_trpo": [("delta", "ArrowRight", +1), ("backtrack", "ArrowLeft", -1),
                ("max backtr.", "Home", -1)],
}


def as_number(text):
    return float(text.strip())


def move(page, panel, description, key, direction):
    """Move one slider; wait until its readout and the figure of its explorer changed.
    Returns the readout before and after."""
    s = find_slider(panel, description)
    explorer = explorer_of(s)
    cell = panel.locator(".jp-Cell").filter(has=s)
    handle, readout = s.locator(".noUi-handle"), s.locator(".widget-readout")
    assert figure_count(explorer) == 1, (description, "expected one figure in its explorer")
    readout_before = readout.inner_text().strip()
    value_before = handle.get_attribute("aria-valuetext")   # valuenow is rounded to 0.1
    sig_before = figure_signature(explorer)
    assert sig_before is not None, (description, "figure not displayed")
    s.scroll_into_view_if_needed()
    if key == "drag-to-end":
        track, hb = s.locator(".noUi-base").bounding_box(), handle.bounding_box()
        y = hb["y"] + hb["height"] / 2
        page.mouse.move(hb["x"] + hb["width"] / 2, y)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] + 40, y, steps=10)
        page.mouse.up()
        expect(handle).to_have_attribute("aria-valuenow", handle.get_attribute("aria-valuemax"))
    else:
        handle.focus()
        page.keyboard.press(key)
    expect(readout).not_to_have_text(readout_before)
    expect(handle).not_to_have_attribute("aria-valuetext", value_before)
    readout_after = readout.inner_text().strip()
    assert (as_number(readout_after) - as_number(readout_before)) * direction > 0, \
        (description, key, readout_before, readout_after)
    # the callback ran: the figure's pixels changed (a new PNG, or a redrawn ipympl canvas),
    # and there is still exactly one figure (interactive clears the output, then plt.show())
    wait_figure_changed(page, explorer, sig_before)
    assert figure_count(explorer) == 1, (description, "expected one figure after the move")
    check_no_errors(cell)
    return readout_before, readout_after


@pytest.mark.parametrize("stem", list(PLANS))
def test_widgets_respond(stem, bpage, lab, shots, report):
    page, name = bpage, f"{stem}.ipynb"
    t0 = time.perf_counter()
    panel, t_run = open_and_run_all(page, lab, name, run_all_timeout=RUN_ALL_TIMEOUT)
    t_open = time.perf_counter() - t0 - t_run
    check_no_errors(panel)

    # every widget rendered: each explorer cell shows its sliders and one figure
    n_explorers = count_cells(lab.root / name)[1]
    assert n_explorers >= 1, f"{name}: no explorer cell found"
    explorers = panel.locator(EXPLORER)
    expect(explorers).to_have_count(n_explorers)
    expect(panel.get_by_text("Loading widget...")).to_have_count(0)
    kinds = []
    for i in range(n_explorers):
        expect(explorers.nth(i).locator(".widget-slider").first).to_be_visible()
        el = explorers.nth(i).element_handle()
        page.wait_for_function("c => window.__trpoFig.count(c) === 1", arg=el, timeout=60_000)
        kinds.append(figure_kind(el))
    check_no_errors(panel)
    # the course's settings are in effect: no "get notified about Jupyter news?" toast
    expect(page.get_by_text(NEWS_TOAST)).to_have_count(0)
    explorer = explorer_of(find_slider(panel, PLANS[stem][0][0]))
    explorer.scroll_into_view_if_needed()
    before = shots / f"{stem}_before.png"
    page.screenshot(path=str(before))

    t1 = time.perf_counter()
    moves = []
    for description, key, direction in PLANS[stem]:
        a, b = move(page, panel, description, key, direction)
        moves.append(f"{description!r} {a} -> {b} ({key})")
    t_moves = time.perf_counter() - t1

    explorer.scroll_into_view_if_needed()
    after = shots / f"{stem}.png"
    page.screenshot(path=str(after))
    assert page.js_errors == [], page.js_errors
    line = (f"{stem}: open+kernel {t_open:.1f} s, run all {t_run:.1f} s, sliders {t_moves:.1f} s "
            f"(figure: {'/'.join(kinds)}; {'; '.join(moves)}); screenshot {after}")
    print(line)
    report.append(line)


IPYMPL_CHECK = '''\
%matplotlib widget
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

def demo_explorer():
    """What a phase-2 explorer looks like: sliders + an ipympl canvas, updated in place."""
    with plt.ioff():
        fig, ax = plt.subplots(figsize=(6, 3))
    x = np.linspace(0, 10, 200)
    line, = ax.plot(x, np.sin(x))
    freq = widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.1, description="freq",
                               continuous_update=False)
    def update(change):
        line.set_ydata(np.sin(change["new"] * x))
        fig.canvas.draw_idle()
    freq.observe(update, "value")
    box = widgets.VBox([freq, fig.canvas])
    box.add_class("trpo-explorer")
    return box

demo_explorer()
'''


def test_ipympl_canvas_renders_and_updates(bpage, lab, report):
    """The locked environment's ipympl (``%matplotlib widget``) renders a canvas in this Lab,
    and the figure helpers see its pixels change when a slider redraws it in place."""
    import nbformat
    name = "zz_ipympl_check.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(IPYMPL_CHECK)]
    nbformat.write(nb, lab.root / name)
    t0 = time.perf_counter()
    panel, _ = open_and_run_all(bpage, lab, name, run_all_timeout=RUN_ALL_TIMEOUT)
    check_no_errors(panel)
    expect(panel.locator(".jupyter-matplotlib-canvas-div canvas").first).to_be_visible()
    explorer = explorer_of(find_slider(panel, "freq"))
    bpage.wait_for_function("c => window.__trpoFig.signature(c) !== null", arg=explorer)
    assert figure_kind(explorer) == "canvas"
    before, after = move(bpage, panel, "freq", "ArrowRight", +1)
    assert bpage.js_errors == [], bpage.js_errors
    report.append(f"ipympl: canvas rendered and redrawn ('freq' {before} -> {after}) "
                  f"in {time.perf_counter() - t0:.1f} s")

"""The notebooks' widgets in a real JupyterLab (headless Debian chromium, Playwright for Python).

For each notebook with an explorer: open it, Run > Run All Cells as a student would, wait for
the kernel and every cell, check that no cell wrote an error or to stderr and that every
widget rendered, then move the sliders (keyboard on the noUiSlider handle, and one drag) and
check that the slider's readout and the figure beneath it changed. The sliders are found by
their descriptions in trpo_lite/widgets.py.
"""
import os
import re
import time

import pytest

pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")
from playwright.sync_api import expect  # noqa: E402

RUN_ALL_TIMEOUT = float(os.environ.get("BROWSER_RUN_ALL_TIMEOUT", 300)) * 1000   # ms
KERNEL_TIMEOUT = 120_000
ERROR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'

# notebook -> the slider moves: (slider description, key or "drag-to-end", direction)
# 06: max_backtracks 10 -> 9 would leave the figure unchanged (the search accepts at
# attempt 4), so it goes to 0 (Home): one attempt, "line search failed".
PLANS = {
    "01_policy_gradient": [("lr", "ArrowRight", +1), ("lr", "drag-to-end", +1)],
    "02_kl_and_fisher": [("delta", "ArrowRight", +1)],
    "04_conjugate_gradient": [("iterations", "ArrowRight", +1)],
    "06_trpo": [("delta", "ArrowRight", +1), ("backtrack", "ArrowLeft", -1),
                ("max backtr.", "Home", -1)],
}


def count_cells(path):
    """(code cells that run, cells that display an explorer) of the served copy."""
    import nbformat
    code = [c.source for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "code" and c.source.strip()]
    return len(code), sum(bool(re.search(r"\w+_explorer\(", src)) for src in code)


def open_and_run_all(page, lab, name):
    # a workspace of its own per notebook: only this notebook's panel is open
    page.goto(lab.url(f"lab/workspaces/t{name[:2]}/tree/{name}"))
    panel = page.locator(".jp-NotebookPanel")
    expect(panel).to_have_count(1, timeout=KERNEL_TIMEOUT)
    # the status says idle before any kernel exists: wait for the kernel name AND idle
    expect(panel.locator(".jp-NotebookPanel-toolbar .jp-KernelName")).to_have_text(
        "Python 3 (ipykernel)", timeout=KERNEL_TIMEOUT)
    expect(page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle"))).to_be_visible(
        timeout=KERNEL_TIMEOUT)
    t_kernel = time.perf_counter()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # done when every code cell has an execution count and none is queued/running, or as
    # soon as a cell shows an error (Run All stops there; the asserts below say which).
    page.wait_for_function(
        """([n, errSel]) => {
            const panel = document.querySelector('.jp-NotebookPanel');
            if (!panel) return false;
            if (panel.querySelector(errSel)) return true;
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .map(p => p.textContent.trim());
            return prompts.filter(t => /^\\[\\d+\\]:$/.test(t)).length >= n
                && !prompts.some(t => t.includes('*'));
        }""",
        arg=[count_cells(lab.root / name)[0], ERROR_OUTPUT], timeout=RUN_ALL_TIMEOUT, polling=250)
    return panel, time.perf_counter() - t_kernel


def check_no_errors(panel):
    errors = panel.locator(ERROR_OUTPUT)
    texts = [errors.nth(i).inner_text()[:1500] for i in range(errors.count())]
    assert not texts, "cells wrote errors/stderr:\n" + "\n---\n".join(texts)
    assert panel.get_by_text("Error displaying widget").count() == 0, "a widget failed to render"
    assert panel.get_by_text("Traceback (most recent call last)").count() == 0


def find_slider(panel, description):
    """(explorer, slider): the slider whose description label is exactly `description`, and
    the interactive widget (sliders + figure) that holds it."""
    label = panel.page.locator(".widget-label", has_text=re.compile(rf"^{re.escape(description)}$"))
    interact = panel.locator(".widget-interact").filter(has=label)
    s = interact.locator(".widget-slider").filter(has=label)
    expect(s).to_have_count(1)
    return interact, s


def as_number(text):
    return float(text.strip())


def move(page, panel, description, key, direction):
    """Move one slider; wait until its readout and the figure beneath changed.
    Returns the readout before and after."""
    interact, s = find_slider(panel, description)
    handle, readout = s.locator(".noUi-handle"), s.locator(".widget-readout")
    img = interact.locator(".widget-output img")
    expect(img).to_have_count(1)
    readout_before = readout.inner_text().strip()
    value_before = handle.get_attribute("aria-valuetext")   # valuenow is rounded to 0.1
    src_before = img.get_attribute("src")
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
    # the callback ran: one new figure (interactive clears the output, then plt.show())
    expect(img).not_to_have_attribute("src", src_before)
    expect(img).to_have_count(1)
    check_no_errors(interact)
    return readout_before, readout_after


@pytest.mark.parametrize("stem", list(PLANS))
def test_widgets_respond(stem, bpage, lab, shots, report):
    page, name = bpage, f"{stem}.ipynb"
    t0 = time.perf_counter()
    panel, t_run = open_and_run_all(page, lab, name)
    t_open = time.perf_counter() - t0 - t_run
    check_no_errors(panel)

    # every widget rendered: each explorer cell shows its sliders and its figure
    n_explorers = count_cells(lab.root / name)[1]
    assert n_explorers >= 1, f"{name}: no explorer cell found"
    interacts = panel.locator(".widget-interact")
    expect(interacts).to_have_count(n_explorers)
    expect(panel.get_by_text("Loading widget...")).to_have_count(0)
    for i in range(n_explorers):
        expect(interacts.nth(i).locator(".widget-slider").first).to_be_visible()
        expect(interacts.nth(i).locator(".widget-output img")).to_have_count(1)
    check_no_errors(panel)
    interact = find_slider(panel, PLANS[stem][0][0])[0]
    interact.scroll_into_view_if_needed()
    before = shots / f"{stem}_before.png"
    page.screenshot(path=str(before))

    t1 = time.perf_counter()
    moves = []
    for description, key, direction in PLANS[stem]:
        a, b = move(page, panel, description, key, direction)
        moves.append(f"{description!r} {a} -> {b} ({key})")
    t_moves = time.perf_counter() - t1

    interact.scroll_into_view_if_needed()
    after = shots / f"{stem}.png"
    page.screenshot(path=str(after))
    assert page.js_errors == [], page.js_errors
    line = (f"{stem}: open+kernel {t_open:.1f} s, run all {t_run:.1f} s, sliders {t_moves:.1f} s "
            f"({'; '.join(moves)}); screenshot {after}")
    print(line)
    report.append(line)

"""Screenshots of every explorer, as a student sees it, in a real JupyterLab (headless chromium).

For each notebook with an explorer, two pictures go to ``--out``
(default benchmarks/results/explorer_shots/):

* ``before_kernel_NN.png``: the notebook as stored, opened without running a cell: the
  explorer cell shows its stored static figure (the ``image/png`` of ``Explorer``'s output)
  where the sliders will be;
* ``after_move_NN_<stem>_<slider>.png``: after Run All Cells and ``--presses`` key presses on
  one slider, with the figure redrawn in place.

The server and browser are the browser test's (tests/browser/labdriver.py): Debian's chromium
through the playwright package, the course's Lab settings, side files in a temporary folder.
Not a test and not a timing: it only makes the pictures (the browser test checks the moves,
widget_latency.py times them).

    .venv/bin/python benchmarks/explorer_shots.py                     # all, ~2 min
    .venv/bin/python benchmarks/explorer_shots.py --notebooks 06 --out /tmp/shots
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "browser"))
import _common
import labdriver as L

# notebook -> (the slider moved for the "after" picture, its key)
MOVES = {
    "01_policy_gradient": ("lr", "ArrowRight"),
    "02_kl_and_fisher": ("delta", "ArrowRight"),
    "03_natural_gradient": ("damping", "ArrowRight"),
    "04_conjugate_gradient": ("kappa(A)", "ArrowRight"),
    "05_monotonic_improvement": ("scale s", "ArrowLeft"),
    "06_trpo": ("delta", "ArrowRight"),
}


def first_explorer_cell(panel):
    """The first code cell whose source calls ``*_explorer(`` (waits until it is rendered)."""
    from playwright.sync_api import expect
    source = panel.page.locator(".jp-InputArea", has_text=L.EXPLORER_CALL)
    cell = panel.locator(".jp-CodeCell").filter(has=source).first
    expect(cell).to_be_attached(timeout=60_000)
    return cell


def shoot_before_kernel(browser, lab, stem, out):
    """The stored notebook, no cell run: the explorer cell shows its stored static picture."""
    from playwright.sync_api import expect
    context, page = L.new_page(browser)
    try:
        page.goto(lab.url(f"lab/workspaces/s{stem[:2]}/tree/{stem}.ipynb"))
        panel = page.locator(".jp-NotebookPanel")
        expect(panel).to_have_count(1, timeout=L.KERNEL_TIMEOUT)
        picture = first_explorer_cell(panel).locator(".jp-OutputArea img").first
        expect(picture).to_be_visible(timeout=60_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=picture.element_handle())
        picture.evaluate("e => e.scrollIntoView({block: 'center'})")
        path = out / f"before_kernel_{stem[:2]}.png"
        page.screenshot(path=str(path))
        return path
    finally:
        context.close()


def shoot_after_move(browser, lab, stem, slider, key, presses, out):
    """Run All, then `presses` key presses on `slider`, each waited for until the figure changed."""
    context, page = L.new_page(browser)
    try:
        panel, _ = L.open_and_run_all(page, lab, f"{stem}.ipynb")
        L.check_no_errors(panel)
        s = L.find_slider(panel, slider)
        explorer = L.explorer_of(s)
        page.wait_for_function("c => window.__trpoFig.count(c) === 1", arg=explorer, timeout=60_000)
        s.scroll_into_view_if_needed()
        for _ in range(presses):
            before = L.figure_signature(explorer)
            s.locator(".noUi-handle").focus()
            page.keyboard.press(key)
            L.wait_figure_changed(page, explorer, before)
        explorer.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(500)                    # the last frame decoded and painted
        name = re.sub(r"[^A-Za-z0-9_]", "", slider.replace(" ", "_"))
        path = out / f"after_move_{stem}_{name}.png"
        page.screenshot(path=str(path))
        assert page.js_errors == [], page.js_errors
        return path
    finally:
        context.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--notebooks", nargs="*", default=None,
                    help="notebook stems or prefixes (default: all with an explorer)")
    ap.add_argument("--presses", type=int, default=2, help="key presses before the 'after' picture")
    ap.add_argument("--out", type=Path, default=_common.RESULTS / "explorer_shots")
    args = ap.parse_args(argv)
    if args.presses < 1:
        ap.error(f"argument --presses: must be >= 1, got {args.presses}")
    stems = [s for s in MOVES if not args.notebooks or any(s.startswith(p) for p in args.notebooks)]
    if not stems:
        ap.error(f"argument --notebooks: none of {list(MOVES)} starts with {args.notebooks}")
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory(prefix="explorer-shots-") as tmp:
        tmp = Path(tmp)
        root = tmp / "notebooks"                      # stored outputs kept: the "before" picture
        root.mkdir()
        for stem in stems:
            shutil.copy(L.NOTEBOOKS / f"{stem}.ipynb", root)
        lab = L.LabServer(root, tmp / "home")
        try:
            with sync_playwright() as p:
                browser = L.launch_chromium(p)
                try:
                    for stem in stems:
                        before = shoot_before_kernel(browser, lab, stem, args.out)
                        after = shoot_after_move(browser, lab, stem, *MOVES[stem], args.presses, args.out)
                        lab.shutdown_kernels()
                        print(f"{stem}: {before.name}, {after.name}", flush=True)
                finally:
                    browser.close()
        finally:
            lab.stop()


if __name__ == "__main__":
    main()

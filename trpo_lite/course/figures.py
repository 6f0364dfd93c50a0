"""Figure helpers that several notebooks share. Only the course's figure modules import matplotlib.

The running example's map: the exact objective J(theta) of ``running_example()`` drawn as
filled contours over theta = (theta_0, theta_1), on which notebooks 01-03, 06 and 07 draw
their paths, trust regions and line-search attempts. Also: the true KL ball's edge and its
quadratic ellipse (the explorers of 02 and 06, the figures of 03), learning curves with the
solve line (01, 03, 06), one colour per algorithm (06, 07), and the ``Explorer`` widget every
explorer is.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import math
import warnings

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from contourpy import contour_generator
from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ft2font import RenderMode
from matplotlib.lines import Line2D

from .running_example import running_example

AXIS_LABELS = (r"$\theta_0$  (common state $s_0$)", r"$\theta_1$  (rare state $s_1$)")

# one colour per algorithm, in every figure that compares them (notebooks 06 and 07)
ALGO_COLORS = {"vpg": "tab:gray", "npg": "tab:purple", "trpo": "tab:blue", "ppo": "tab:orange"}


# ----------------------------------------------------------------- explorers
EXPLORER_WIDTH_PX = 860       # fits JupyterLab's notebook column on a laptop, file browser open


class Explorer(widgets.VBox):
    """Sliders above a figure that is built once and updated in place as a slider moves.

    Pattern (so tests can drive an explorer without a browser): each explorer has a
    ``build(fig, **fixed)`` that draws what no slider changes (the map of J, axes, labels,
    legends) and returns a dict of the artists that move, an ``update(artists, **values)``
    that moves them (line data, marker positions, texts) and returns the data it drew (a dict),
    and a pure ``draw_*(fig, **values)`` = update(build(fig)) that the tests call.
    ``artists["moving"]`` lists what update changes; ``artists.get("view")`` is a key of what
    else it changed (axis limits, a background map), None if nothing.

    Why it answers as you drag: the figure is a plain matplotlib Figure on an ipympl canvas
    (matplotlib's Jupyter widget backend; pyplot never sees it, so the notebook's inline
    figures are unaffected), and it is blitted: a full draw (on first display, or for a view
    not seen before) renders the static part once and keeps that picture per view; a slider
    change then restores the picture and draws only the moving artists on it, and the canvas
    sends the changed pixels. Sliders update continuously while dragged: ipywidgets sends at
    most one change at a time to the kernel and merges the rest, so a drag never queues stale
    redraws. ``controls`` maps update's keyword names to widgets (``children[0]`` is the first);
    ``result`` holds the last dict update returned. Displayed, the explorer also carries a PNG
    of its figure and a one-line text: what a notebook shows before its kernel runs (and what
    sites that render stored notebooks show) instead of the widget.
    """

    def __init__(self, build, update, controls, figsize=(9, 4.5), name="explorer", **fixed):
        # a canvas is not scaled to the page like an inline PNG: keep it EXPLORER_WIDTH_PX wide
        self.figure = Figure(figsize=figsize, dpi=min(100.0, EXPLORER_WIDTH_PX / figsize[0]))
        canvas = _ipympl_canvas(self.figure)
        canvas.header_visible = canvas.footer_visible = canvas.resizable = False
        canvas.toolbar_visible = False
        self.name, self.controls, self._update = name, dict(controls), update
        self.artists = build(self.figure, **fixed)
        self._backgrounds, self._size, self._draw_pending = {}, None, False
        canvas.mpl_connect("draw_event", self._on_full_draw)
        self.result = self._run_update()
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        super().__init__([*self.controls.values(), canvas])
        self.add_class("trpo-explorer")

    def values(self):
        """The controls' current values, by update's keyword names."""
        return {key: control.value for key, control in self.controls.items()}

    def _run_update(self):
        result = self._update(self.artists, **self.values())
        for artist in self.artists["moving"]:
            artist.set_animated(True)             # left out of full draws: blitted on top
        return result

    def _changed(self, _change):
        self.result = self._run_update()
        try:                                  # in a kernel: draw when the kernel is free (below)
            loop = asyncio.get_running_loop()
        except RuntimeError:                  # no event loop (tests, scripts): draw now
            loop = None
        if loop is None:
            self._draw()
        elif not self._draw_pending:
            self._draw_pending = True
            loop.call_soon(self._draw)

    def _draw(self):
        """Draw the moving artists of the last update. In a kernel this runs after the slider's
        message is answered, so the browser sends the next value (a drag's next position) while
        this frame is drawn; values that arrive meanwhile are all applied before the one draw."""
        self._draw_pending = False
        canvas = self.figure.canvas
        background = self._backgrounds.get(self.artists.get("view"))
        if background is None:
            canvas.draw()                         # a new view: full draw (see _on_full_draw)
            return
        canvas.restore_region(background)
        self._draw_moving()
        canvas.blit(self.figure.bbox)

    def _draw_moving(self):
        for artist in self.artists["moving"]:
            self.figure.draw_artist(artist)

    def _on_full_draw(self, _event):
        """After every full draw (ours, or one the browser asks for): keep the static picture
        for this view, then draw the moving artists on top before the canvas sends it."""
        canvas = self.figure.canvas
        size = canvas.get_width_height(physical=True)
        if size != self._size:                    # resized (e.g. the screen's pixel ratio)
            self._backgrounds, self._size = {}, size
        self._backgrounds[self.artists.get("view")] = canvas.copy_from_bbox(self.figure.bbox)
        self._draw_moving()

    def __repr__(self):
        shown = ", ".join(f"{c.description} = {_readout(c)}" for c in self.controls.values())
        return f"{self.name} ({shown}): run the notebook to move the sliders"

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        png = io.BytesIO()
        moving = self.artists["moving"]
        for artist in moving:
            artist.set_animated(False)
        try:
            self.figure.savefig(png, format="png", dpi=100)
        finally:
            for artist in moving:
                artist.set_animated(True)
        bundle["image/png"] = base64.b64encode(png.getvalue()).decode("ascii")
        bundle["text/plain"] = repr(self)
        return bundle


def _ipympl_canvas(figure):
    """An ipympl canvas (with its manager) for ``figure``, leaving pyplot's backend as it was.

    Importing ipympl switches matplotlib to ipympl's backend (``%matplotlib widget``) as a side
    effect; the notebooks keep inline figures (their stored PNGs are what nbval compares), so
    the backend in use is restored right after the import.
    """
    backend = matplotlib.get_backend()
    from ipympl.backend_nbagg import Canvas, FigureManager
    if matplotlib.get_backend() != backend:
        matplotlib.use(backend)

    class FastCanvas(Canvas):
        """ipympl's canvas, sending its frames as PNGs of the fastest compression level (the
        default level spends ~15 ms per frame on two cores to save a few kB on a local link),
        and drawing text with the glyph cache of ``_GlyphCacheRenderer``."""

        def get_diff_image(self):
            with _fast_png():
                return super().get_diff_image()

        def get_renderer(self):
            key = (*self.get_width_height(physical=True), self.figure.dpi)
            if self._lastKey != key:
                self.renderer = _GlyphCacheRenderer(key[0], key[1], key[2])
                self._lastKey = key
            return self.renderer

    canvas = FastCanvas(figure)
    with warnings.catch_warnings():           # ipympl 0.10's toolbar, on traitlets' old API
        warnings.filterwarnings("ignore", "Passing unrecognized arguments", DeprecationWarning)
        FigureManager(canvas, 0)
    return canvas


_GLYPHS = {}                    # (font, size, dpi, glyph, transform, subpixel offset) -> bitmap
_GLYPHS_MAX = 50_000


class _GlyphCacheRenderer(RendererAgg):
    """matplotlib's Agg renderer, keeping every glyph bitmap it rendered.

    Agg renders text glyph by glyph at a subpixel position (in 1/64 pixel); a title that a
    slider changes is rendered anew at every move, ~10 ms for 70 characters on two cores. A
    glyph's bitmap depends on its position only through the fraction of a pixel (the whole
    pixels shift the bitmap), so it is rendered once per fraction and then copied: the same
    pixels as Agg's own ``_draw_text_glyphs_and_boxes`` (tests/test_figures.py compares them).
    """

    def _draw_text_glyphs_and_boxes(self, gc, x, y, angle, glyphs, boxes):
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        load_flags = get_hinting_flag()
        mode = RenderMode.NORMAL if gc.get_antialiased() else RenderMode.MONO
        height = int(self.height)
        for font, size, glyph_index, slant, extend, dx, dy in glyphs:    # as in RendererAgg
            matrix = (0x10000 * np.array([[cos, -sin], [sin, cos]])
                      @ [[extend, extend * slant], [0, 1]]).round().astype(int)
            qx, rx = divmod(round(0x40 * (x + dx * cos - dy * sin)), 0x40)
            qy, ry = divmod(round(0x40 * (self.height - y + dx * sin + dy * cos)), 0x40)
            key = (font.fname, font.family_name, font.style_name, size, self.dpi, glyph_index,
                   matrix.tobytes(), rx, ry, mode, load_flags)
            glyph = _GLYPHS.get(key)
            if glyph is None:
                font.set_size(size, self.dpi)
                font._set_transform(matrix, [rx, ry])
                bitmap = font._render_glyph(glyph_index, load_flags, mode)
                buffer = np.array(bitmap.buffer)
                if mode is RenderMode.MONO:
                    buffer *= 0xff
                if len(_GLYPHS) >= _GLYPHS_MAX:
                    _GLYPHS.clear()
                glyph = _GLYPHS[key] = (buffer, bitmap.left, bitmap.top)
            buffer, left, top = glyph
            self._renderer.draw_text_image(buffer, left + qx, height - (top + qy) + buffer.shape[0],
                                           0, gc)
        super()._draw_text_glyphs_and_boxes(gc, x, y, angle, (), boxes)     # mathtext's rules


@contextlib.contextmanager
def _fast_png():
    """Within: PIL saves PNGs with compress_level 1 (what matplotlib's WebAgg frames use)."""
    from PIL import Image
    save = Image.Image.save

    def fast_save(self, fp, format=None, **params):
        if format == "png":
            params.setdefault("compress_level", 1)
        return save(self, fp, format, **params)

    Image.Image.save = fast_save
    try:
        yield
    finally:
        Image.Image.save = save


def _readout(control):
    """A control's value as its label shows it (sliders' readout format; a menu's label)."""
    if isinstance(control, widgets.Dropdown):
        return control.label
    fmt = getattr(control, "readout_format", "d" if isinstance(control.value, int) else ".3g")
    return format(control.value, fmt)


def delta_slider(value, min_exponent, readout_format):
    """The explorers' log slider for the trust-region size delta, from 10**min_exponent to 1."""
    return widgets.FloatLogSlider(value=value, base=10, min=min_exponent, max=0, step=0.1,
                                  description="delta", readout_format=readout_format)


def theta_old_menu(options, value):
    """The explorers' menu of centres theta_old on the map: ``options`` are (label, theta) pairs."""
    return widgets.Dropdown(options=list(options), value=value, description="theta_old")


# -------------------------------------------------------- the running example's map
def running_example_map(ax=None, example=None, box=None, n_grid=161, levels=25, title=None,
                        colorbar=True):
    """Filled contours of J(theta) with the start point and the optimum marked.

    Returns the Axes. ``box=(lo, hi)`` sets both axis ranges (default: the example's box).
    """
    example = example or running_example()
    lo, hi = box or example.box
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    cs = draw_J_contours(ax, example, (lo, hi), n_grid, levels)
    if colorbar:
        ax.figure.colorbar(cs, ax=ax, label=r"$J(\theta)$")
    start = np.asarray(example.theta_start)
    ax.plot(*start, "o", color="white", mec="black", ms=8, label="start", zorder=5)
    if example.tau > 0:
        opt = example.theta_opt()
        if lo <= opt.min() and opt.max() <= hi:
            ax.plot(*opt, "*", color="gold", mec="black", ms=15, label="optimum", zorder=5)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(AXIS_LABELS[0])
    ax.set_ylabel(AXIS_LABELS[1])
    ax.set_title(title or r"Running example: exact $J(\theta)$")
    return ax


def draw_J_contours(ax, example, box, n_grid=161, levels=25):
    """Filled contours of the example's exact J over box = (lo, hi) on both axes; returns them."""
    t = np.linspace(*box, n_grid)
    return ax.contourf(t, t, example.J_grid(t, t), levels=levels, cmap="viridis", alpha=0.85)


def nice_ceil(x):
    """The smallest of 1, 2, 5 x 10**k that is >= x > 0: axis limits that change in steps."""
    k = np.floor(np.log10(x))
    return float(next(m * 10.0 ** k for m in (1, 2, 5, 10) if m * 10.0 ** k >= x * (1 - 1e-12)))


def draw_path(ax, path, label, color=None, marker=".", **kwargs):
    """A parameter path (n, 2) as a line with markers; returns the Line2D."""
    path = np.asarray(path)
    kwargs.setdefault("lw", 1.5)
    kwargs.setdefault("ms", 4)
    (line,) = ax.plot(path[:, 0], path[:, 1], marker=marker, color=color, label=label, **kwargs)
    return line


# ------------------------------------------------------------ the KL ball on the map
def kl_ellipse(F, theta_old, delta, n_points=181):
    """Boundary of the quadratic trust region 0.5 dtheta^T F dtheta = delta, shape (n_points, 2).

    With F = L L^T (Cholesky) and a unit vector u = (cos a, sin a), the point
    dtheta = sqrt(2 delta) L^-T u gives 0.5 dtheta^T F dtheta = delta u^T u = delta.
    Row k belongs to the angle a_k = 2 pi k / (n_points - 1) (first and last rows coincide).
    """
    F = np.asarray(F, dtype=float)
    if F.shape != (2, 2):
        raise ValueError(f"F must have shape (2, 2), got {F.shape}")
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"delta must be a finite number > 0, got {delta!r}")
    angle = np.linspace(0.0, 2.0 * np.pi, int(n_points))
    u = np.stack([np.cos(angle), np.sin(angle)])                       # (2, n)
    L = np.linalg.cholesky(F)
    return np.asarray(theta_old, dtype=float) + np.sqrt(2.0 * delta) * np.linalg.solve(L.T, u).T


def kl_contour_artist(ax):
    """An empty red line collection on ax for the true KL ball's edge (see ``kl_level_set``)."""
    collection = LineCollection([], colors="red", linewidths=2, zorder=4)
    ax.add_collection(collection)
    return collection


def kl_level_set(example, theta_old, delta, box, n_grid, cache=None):
    """The true KL ball's edge {theta: example.kl(theta_old, theta) = delta}, found on an
    n_grid x n_grid grid over box = (lo, hi) on both axes: a list of (m, 2) arrays, empty when
    the whole box lies inside the ball. The KL on the grid does not depend on delta: pass a
    dict as ``cache`` to compute it once per (theta_old, box) while delta moves.
    """
    key = (tuple(np.asarray(theta_old, dtype=float)), tuple(box), int(n_grid))
    found = None if cache is None else cache.get(key)
    if found is None:
        t = np.linspace(*box, int(n_grid))
        kl_grid = example.kl_grid(theta_old, t, t)
        found = (contour_generator(t, t, kl_grid), float(kl_grid.max()))
        if cache is not None:
            cache[key] = found
    generator, kl_max = found
    if kl_max <= delta:                # the whole box lies inside the KL ball
        return []
    return [np.asarray(line) for line in generator.lines(delta) if len(line) > 1]


def kl_contour_legend():
    """The legend entry of ``kl_contour_artist``'s line."""
    return Line2D([], [], color="red", lw=2, label=r"true KL = $\delta$")


# ------------------------------------------------------------------ learning curves
def draw_solve_line(ax, threshold):
    """The dotted line at the return where an environment counts as solved (none if None).

    Pass ``rollout.SOLVE_THRESHOLDS[env_id]``.
    """
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls=":", lw=1, label=f"solved ({threshold:g})")


def draw_return_vs_env_steps(ax, results, threshold=None):
    """Learning curves: mean return of the last 20 episodes against environment steps.

    ``results`` maps a label to a ``TrainResult`` or to its log (for a stored run,
    ``experiments.stored_log``); ``threshold`` draws the solve line.
    Returns {label: (env_steps, mean_return)}.
    """
    drawn = {}
    for label, result in results.items():
        log = getattr(result, "log", result)
        steps = np.array([row["env_steps"] for row in log])
        ret = np.array([row["mean_return"] for row in log])
        ax.plot(steps, ret, lw=1.8, label=label)
        drawn[label] = (steps, ret)
    draw_solve_line(ax, threshold)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return (last 20 episodes)")
    ax.legend(fontsize=8)
    return drawn

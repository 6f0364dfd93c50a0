"""The ``Explorer`` widget every explorer of the course is (notebooks 01-06), and its sliders.

An explorer is sliders above a matplotlib figure on an ipympl canvas. The figure is built once;
a slider change moves only what changes and redraws it on a kept picture of the rest (blitting),
so that the figure follows a drag. This module holds the widget, the canvas's faster PNG frames
and text (a glyph cache), and the sliders several explorers share.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import math
import time
import warnings

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.ft2font import RenderMode

# ----------------------------------------------------------------- explorers
EXPLORER_WIDTH_PX = 860       # fits JupyterLab's notebook column on a laptop, file browser open
PREFETCH_IDLE_S = 0.2         # no slider change for this long: draw the next positions' views (one
                              # takes ~150 ms, and a move arriving meanwhile waits for it)


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
    redraws. When the sliders rest (``PREFETCH_IDLE_S``), the kernel draws the pictures of the
    views one slider step away (``prefetch``), so that the next key press finds them kept.
    ``controls`` maps update's keyword names to widgets (``children[0]`` is the first);
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
        self._views, self._last_change, self._last_key, self._prefetch_timer = {}, 0.0, None, None
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

    def _changed(self, change):
        self.result = self._run_update()
        self._last_change = time.monotonic()
        self._last_key = next(k for k, c in self.controls.items() if c is change["owner"])
        loop = _running_loop()                # in a kernel: draw when the kernel is free (below)
        if loop is None:                      # no event loop (tests, scripts): draw now
            self._draw()
            return
        if not self._draw_pending:
            self._draw_pending = True
            loop.call_soon(self._draw)
        self._schedule_prefetch()

    def _schedule_prefetch(self):
        loop = _running_loop()                # none: no kernel, nobody waits for the next frame
        if loop is not None and self._prefetch_timer is None:
            self._prefetch_timer = loop.call_later(PREFETCH_IDLE_S, self._prefetch_when_idle)

    def _prefetch_when_idle(self):
        """Prefetch one view once the sliders have rested PREFETCH_IDLE_S; then wait again."""
        idle = time.monotonic() - self._last_change
        loop = _running_loop()
        if self._draw_pending or idle < PREFETCH_IDLE_S:
            self._prefetch_timer = loop.call_later(max(PREFETCH_IDLE_S - idle, 0.01), self._prefetch_when_idle)
        elif self.prefetch():
            self._prefetch_timer = loop.call_later(PREFETCH_IDLE_S, self._prefetch_when_idle)
        else:
            self._prefetch_timer = None

    def prefetch(self):
        """Keep the static picture of one view that a slider step from the shown values leads to
        and that has none yet; True if it drew one. The picture is rendered, not sent; the
        figure's artists and pixels are then those of the shown values again."""
        shown = self.values()
        current = self._backgrounds.get(self.artists.get("view"))
        if current is None or self.artists.get("view") is None:   # nothing shown yet, or one view
            return False
        keys = sorted(self.controls, key=lambda k: k != self._last_key)   # the last moved first
        new, drawn = None, None                     # drawn: the values the artists now show
        for values in ({**shown, k: v} for k in keys for v in _steps(self.controls[k])):
            known = tuple(values.items())
            if known not in self._views:            # which view these values lead to
                self._update(self.artists, **values)
                self._views[known], drawn = self.artists.get("view"), known
            if self._views[known] not in self._backgrounds:
                if drawn != known:
                    self._update(self.artists, **values)
                new, drawn = values, known
                break
        if new is not None:
            FigureCanvasAgg.draw(self.figure.canvas)       # _on_full_draw keeps the picture
        if drawn is not None:
            self.result = self._run_update()
            self.figure.canvas.restore_region(current)
            self._draw_moving()
        return new is not None

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
        self._schedule_prefetch()                 # e.g. after the first display

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


def _running_loop():
    """The running asyncio loop (a kernel's), or None (tests, scripts)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _steps(control):
    """The values one step below and above a slider's value, within its range (none for a menu)."""
    if isinstance(control, widgets.FloatLogSlider):
        exponent = math.log(control.value, control.base)
        return [control.base ** (exponent + d) for d in (-control.step, control.step)
                if control.min - 1e-9 <= exponent + d <= control.max + 1e-9]
    if isinstance(control, (widgets.IntSlider, widgets.FloatSlider)):
        return [control.value + d for d in (-control.step, control.step)
                if control.min <= control.value + d <= control.max]
    return []


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

"""The explorers' glyph cache (trpo_lite/course/figures.py) draws exactly the pixels of
matplotlib's own Agg renderer: on a first draw (every glyph rendered) and on a second one
(every glyph copied from the cache), for plain, mathtext, rotated and non-antialiased text."""
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trpo_lite.course import figures


class CachingCanvas(FigureCanvasAgg):
    def get_renderer(self):
        key = (*self.get_width_height(physical=True), self.figure.dpi)
        if self._lastKey != key:
            self.renderer = figures._GlyphCacheRenderer(*key)
            self._lastKey = key
        return self.renderer


def texts_figure(canvas_class, number):
    fig = Figure(figsize=(7, 4), dpi=83)
    canvas_class(fig)
    ax0, ax1 = fig.subplots(1, 2)
    ax0.plot([0, 1], [0, 2], label=r"$\frac{1}{2}x^TAx$ curve")
    ax0.legend()
    ax0.set_title(rf"$\delta$ = {number:.4g}, θ_old: accepted")
    ax0.set_ylabel("a rotated label")
    ax1.semilogy([1, 2, 3], [1e-3, 1, 1e2])
    ax1.set_xlabel(r"$\|x_k - x^*\|_A$ after k steps")
    ax1.set_title(f"after {number:.3f} iterations\nsecond line")
    ax1.text(1.5, 1.0, "tilted text", rotation=33)
    fig.text(0.1, 0.02, "not antialiased", antialiased=False)
    return fig


def pixels(fig):
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_the_glyph_cache_draws_agg_s_pixels_on_first_and_later_draws():
    figures._GLYPHS.clear()
    for number in (0.0123, 4.56789, 0.0123):          # the third: every glyph from the cache
        reference = pixels(texts_figure(FigureCanvasAgg, number))
        cached = texts_figure(CachingCanvas, number)
        first = pixels(cached)
        assert np.array_equal(first, reference), f"glyph cache differs from Agg at {number}"
        assert np.array_equal(pixels(cached), reference), "a redraw from the cache differs from Agg"
    assert len(figures._GLYPHS) > 100


def test_the_explorer_canvas_uses_the_glyph_cache():
    explorer = figures.Explorer(lambda fig: {"moving": [fig.subplots().set_title("x")]},
                                lambda artists: {}, controls={})
    explorer.figure.canvas.draw()
    assert isinstance(explorer.figure.canvas.get_renderer(), figures._GlyphCacheRenderer)

"""The explorers' glyph cache (trpo_lite/course/explorer.py) draws exactly the pixels of
matplotlib's own Agg renderer: on a first draw (every glyph rendered) and on a second one
(every glyph copied from the cache), for plain, mathtext, rotated and non-antialiased text."""
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trpo_lite.course import explorer


class CachingCanvas(FigureCanvasAgg):
    def get_renderer(self):
        key = (*self.get_width_height(physical=True), self.figure.dpi)
        if self._lastKey != key:
            self.renderer = explorer._GlyphCacheRenderer(*key)
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
    explorer._GLYPHS.clear()
    for number in (0.0123, 4.56789, 0.0123):          # the third: every glyph from the cache
        reference = pixels(texts_figure(FigureCanvasAgg, number))
        cached = texts_figure(CachingCanvas, number)
        first = pixels(cached)
        assert np.array_equal(first, reference), f"glyph cache differs from Agg at {number}"
        assert np.array_equal(pixels(cached), reference), "a redraw from the cache differs from Agg"
    assert len(explorer._GLYPHS) > 100


def test_the_explorer_canvas_uses_the_glyph_cache():
    widget = explorer.Explorer(lambda fig: {"moving": [fig.subplots().set_title("x")]},
                              lambda artists: {}, controls={})
    widget.figure.canvas.draw()
    assert isinstance(widget.figure.canvas.get_renderer(), explorer._GlyphCacheRenderer)


def test_prefetch_keeps_the_next_view_and_changes_nothing_shown():
    from trpo_lite.course.ch06_figures import line_search_explorer

    def shown(w):
        return np.asarray(w.figure.canvas.buffer_rgba()).copy()

    w = line_search_explorer()
    canvas = w.figure.canvas
    assert not w.prefetch(), "nothing is shown yet: there is no picture to come back to"
    canvas.draw()
    before, title = shown(w), w.artists["ax_map"].get_title()
    full_draws = []
    canvas.mpl_connect("draw_event", lambda event: full_draws.append(event))
    assert w.prefetch(), "delta 0.5 -> 0.63 zooms the map out: a view to prefetch"
    assert len(full_draws) == 1 and len(w._backgrounds) == 2
    assert np.array_equal(shown(w), before), "prefetch must leave the shown pixels as they were"
    assert w.artists["ax_map"].get_title() == title and w.controls["delta"].value == 0.5
    while w.prefetch():                                      # the other neighbours
        pass
    drawn = len(full_draws)
    w.controls["delta"].value = 10 ** -0.2                   # one key press right
    assert len(full_draws) == drawn, "the prefetched view must be blitted, not drawn in full"
    fresh = line_search_explorer()
    fresh.controls["delta"].value = 10 ** -0.2
    fresh.figure.canvas.draw()
    assert np.array_equal(shown(w), shown(fresh)), "a prefetched view must show the pixels of a full draw"


def test_steps_are_one_slider_step_within_the_range():
    import ipywidgets as widgets
    log = widgets.FloatLogSlider(value=10 ** -0.3, base=10, min=-3, max=0, step=0.1)
    assert np.allclose(explorer._steps(log), [10 ** -0.4, 10 ** -0.2])
    assert np.allclose(explorer._steps(widgets.FloatLogSlider(value=1.0, base=10, min=-3, max=0, step=0.1)),
                       [10 ** -0.1])
    assert explorer._steps(widgets.IntSlider(value=0, min=0, max=15)) == [1]
    assert explorer._steps(widgets.FloatSlider(value=0.5, min=0.3, max=0.95, step=0.05)) == [0.45, 0.55]
    assert explorer._steps(widgets.Dropdown(options=["a", "b"])) == []

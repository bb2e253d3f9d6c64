"""Layout shared by every figure the toolkit draws: titles that keep to one or two lines, a key
(legend) below the axes with wrapped labels, and a figure grown to hold both.

Rules (``finish``), so that no label length or count hides an axis, a data point or an entry:

* a title is measured with the renderer and, when wider than its space (the figure for a
  suptitle, the axes for an axes title), wrapped to at most ``TITLE_LINES`` lines and shortened
  in the middle (``head ... tail``, ``middle_ellipsis``): a run path keeps its start and its end;
* the key is a figure legend under every axes, every label shown in full, wrapped at the
  figure's width; it takes as many columns (at most ``MAX_COLUMNS``) as its widest entry allows;
* the figure grows by the key's height (the axes keep the height they were given), and
  ``tight_layout`` places the axes, their labels and the title in the space above the key.

Series of at most ``FEW_POINTS`` points get markers (``markers``: a line through one point has
no length), and more than ten groups get colours of ``tab20`` or ``turbo`` (``colours``: the
default cycle repeats after ten). ``check_figure_path`` names the file suffixes matplotlib can
write, before any work.

Lives in ``configs`` (the bottom of the import graph, as ``configs.safe_files``) so that the
circuit's pictures (``circuits/plots.py``) and the trainer's all lay out through it; matplotlib
is imported only when a figure is drawn.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

from configs.errors import ConfigError

TITLE_LINES = 2
MAX_COLUMNS = 4
ELLIPSIS = " ... "
EM = 0.6  # a first guess of a character's width in font sizes; the renderer then checks it
FEW_POINTS = 5  # series of at most this many points are drawn with markers
PAD_IN = 0.08  # inches between the key and the figure's bottom edge, and above the key


def supported_suffixes() -> list[str]:
    """The file suffixes matplotlib's image backend writes (``png``, ``pdf``, ``svg``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def check_figure_path(path: str | Path) -> Path:
    """``path``, or ``ConfigError`` (one line naming the supported suffixes) when matplotlib
    cannot write a file of its suffix."""
    path = Path(path)
    suffixes = supported_suffixes()
    if path.suffix[1:].lower() not in suffixes:
        raise ConfigError(f"{path}: a figure is written as one of "
                          f"{', '.join('.' + s for s in suffixes)} (got "
                          f"'{path.suffix or 'no suffix'}')")
    return path


def middle_ellipsis(text: str, max_chars: int) -> str:
    """``text`` if it has at most ``max_chars`` characters, else its head and tail around
    ``ELLIPSIS``, ``max_chars`` characters in all (the head one longer when odd)."""
    if len(text) <= max_chars:
        return text
    keep = max(max_chars - len(ELLIPSIS), 2)
    return text[:keep - keep // 2] + ELLIPSIS + text[len(text) - keep // 2:]


def _width_px(artist, renderer) -> float:
    return artist.get_window_extent(renderer).width


def fit_text(text_artist, width_px: float, lines: int = TITLE_LINES) -> None:
    """Set ``text_artist``'s text to its original wrapped to ``width_px`` (renderer widths) in
    at most ``lines`` lines, shortened in the middle when it does not fit in them."""
    original = text_artist.get_text().replace("\n", " ")
    if not original:
        return
    renderer = text_artist.figure.canvas.get_renderer()
    size_px = text_artist.get_fontsize() * text_artist.figure.dpi / 72
    chars = max(int(width_px / (EM * size_px)), 8)
    while True:
        shown = middle_ellipsis(original, chars * lines)
        wrapped = textwrap.wrap(shown, chars) if lines > 1 else [shown]
        if len(wrapped) > lines:  # words broke early: cut once more at the line width
            wrapped = textwrap.wrap(middle_ellipsis(original, chars * lines - chars // 2),
                                    chars, break_long_words=True)[:lines]
        text_artist.set_text("\n".join(wrapped))
        if _width_px(text_artist, renderer) <= width_px or chars <= 8:
            return
        chars = max(int(chars * 0.9), 8)


def fit_axes_titles(ax, lines: int = TITLE_LINES) -> None:
    """Fit ``ax``'s titles (centre, left, right) to the axes' width (``fit_text``)."""
    width = ax.get_window_extent(ax.figure.canvas.get_renderer()).width
    for title in (ax.title, ax._left_title, ax._right_title):
        fit_text(title, width, lines)


def _key(fig, handles, labels: Sequence[str], fontsize: float):
    """A figure legend below the axes whose wrapped labels fit the figure's width."""
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width - 2 * PAD_IN * fig.dpi
    size_px = fontsize * fig.dpi / 72
    handle_chars = 6  # the line sample, its padding and the column gap, in characters
    total = max(int(width / (EM * size_px)), 20)
    longest = max(len(label) for label in labels)
    ncol = max(1, min(MAX_COLUMNS, len(labels), total // (longest + handle_chars)))
    chars = max(total // ncol - handle_chars, 10)
    while True:
        wrapped = ["\n".join(textwrap.wrap(label, chars, break_on_hyphens=False)) or label
                   for label in labels]
        legend = fig.legend(handles, wrapped, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                            ncol=ncol, fontsize=fontsize, frameon=False, borderaxespad=0.4)
        if legend.get_window_extent(renderer).width <= width or chars <= 10:
            return legend
        legend.remove()
        if ncol > 1:
            ncol -= 1
            chars = max(total // ncol - handle_chars, 10)
        else:
            chars = max(int(chars * 0.9), 10)


def finish(fig, handles=(), labels: Sequence[str] = (), *, title: str = "",
           title_fontsize: float = 10, key_fontsize: float = 7) -> None:
    """Lay out ``fig`` (module docstring): the suptitle ``title`` fitted to the figure's width,
    every axes' title fitted to its axes, the key of ``handles``/``labels`` below the axes, the
    figure's height grown by the key's, then ``tight_layout`` above the key."""
    renderer = fig.canvas.get_renderer()
    if title:
        suptitle = fig.suptitle(title, fontsize=title_fontsize)
        fit_text(suptitle, fig.bbox.width - 2 * PAD_IN * fig.dpi)
    fig.tight_layout()  # axes widths first, then titles fitted to them
    for ax in fig.axes:
        fit_axes_titles(ax)
    bottom = 0.0
    if labels:
        legend = _key(fig, list(handles), list(labels), key_fontsize)
        key_in = legend.get_window_extent(renderer).height / fig.dpi + 2 * PAD_IN
        width, height = fig.get_size_inches()
        fig.set_size_inches(width, height + key_in)
        bottom = key_in / (height + key_in)
    if fig._suptitle is not None:  # a fixed distance from the top, whatever the figure's height
        fig._suptitle.set(y=1.0 - PAD_IN / fig.get_figheight(), va="top")
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))


def colours(n: int) -> list:
    """``n`` colours that tell groups apart: matplotlib's ten (``tab10``) up to 10 groups;
    up to 20, ``tab20``'s ten dark shades then its ten light ones (group k + 10 is a lighter
    group k); evenly spaced hues of ``turbo`` beyond (the default cycle repeats its first
    colour at the 11th group)."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](2 * (i % 10) + i // 10) for i in range(n)]
    return [matplotlib.colormaps["turbo"](i / (n - 1)) for i in range(n)]


def markers(points: int) -> dict:
    """``plot`` keywords that mark each point of a series of at most ``FEW_POINTS`` points (a
    line through one point has no length: without a marker it is invisible)."""
    return {"marker": "o", "ms": 3.5} if points <= FEW_POINTS else {}


def handles_and_labels(axes) -> tuple[list, list[str]]:
    """The labelled artists of ``axes``, each label once, in drawing order."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen)

"""The dashboard's charts: matplotlib (object API, Agg-free SVG backend) rendered to inline SVG.

No pyplot: charts are drawn from the retrain worker and the widget's poller thread,
and pyplot's global figure manager is not thread-safe. Text, axes and ticks are
drawn in a sentinel colour that is replaced by ``currentColor``, and the curve
by JupyterLab's brand colour, so the charts follow the light or dark theme.
"""

import io
import re
import threading

import numpy as np

__all__ = ["accuracy_chart"]

_INK = "#0a0b0c"  # sentinel for text, axes, ticks: becomes currentColor
_CURVE = "#0c0b0a"  # sentinel for the data: becomes the theme's brand colour
_TARGET = "#0b0c0a"  # sentinel for the target line: becomes the theme's warning colour
_BASE = "#0a0c0b"  # sentinel for the random-sampling baseline: becomes the theme's secondary text colour
_SWAPS = {_INK: "currentColor", _CURVE: "var(--jp-brand-color1, #1976d2)", _TARGET: "var(--jp-warn-color0, #e65100)",
          _BASE: "var(--jp-ui-font-color2, #757575)"}
_LOCK = threading.Lock()  # rc_context touches matplotlib's global rcParams


def _svg(fig):
    import matplotlib

    buf = io.StringIO()
    with _LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "activelearn"}):
        fig.savefig(buf, format="svg", transparent=True)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML prolog or doctype inside HTML
    for sentinel, colour in _SWAPS.items():
        svg = svg.replace(sentinel, colour)
    svg = re.sub(r"font-family:[^;\"']*", "font-family: var(--jp-ui-font-family, sans-serif)", svg)
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="al-chart" role="img"', svg, count=1)
    svg = svg.replace('id="al-curve', 'class="al-curve" data-id="al-curve')
    return svg


def accuracy_chart(x, accuracy, low=None, high=None, *, xlabel, title, target=None, projection=None,
                   xmax_hint=None, width=3.6, height=2.5, baseline=None, band=None, label=None):
    """Accuracy (%) against ``x`` as an inline SVG string.

    Parameters
    ----------
    x, accuracy : sequence of float
        One point per retrain (accuracy in [0, 1]).
    low, high : sequence of float, optional
        95% interval per point, drawn as a band.
    xlabel, title : str
        Axis title (with its unit) and chart title.
    target : float, optional
        Drawn as a dashed horizontal line.
    projection : (x, accuracy), optional
        Where the fitted curve reaches the target: a dotted segment from the last point.
    xmax_hint : float, optional
        Keeps a lone first point away from the edge.
    baseline : dict, optional
        A second curve with ``x, accuracy, low, high, label`` (the random-sampling baseline), drawn dashed in
        a muted colour with its band; a legend then names both curves.
    band : dict, optional
        A projection ahead with ``x, accuracy, low, high`` (the stopping advisor's): a dotted line in a band.
    label : str, optional
        The main curve's legend entry (with ``baseline``).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    x = np.asarray(x, dtype=float)
    acc = 100 * np.asarray(accuracy, dtype=float)
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(_INK)
    ax.tick_params(colors=_INK, labelsize=8)
    ax.set_title(title, color=_INK, fontsize=9, loc="left")
    ax.set_xlabel(xlabel, color=_INK, fontsize=8)
    ax.set_ylabel("accuracy (%)", color=_INK, fontsize=8)
    ax.grid(True, color=_INK, alpha=0.12, linewidth=0.6)
    if low is not None and high is not None and len(x) > 1:
        lo, hi = 100 * np.asarray(low, dtype=float), 100 * np.asarray(high, dtype=float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            ax.fill_between(x[ok], lo[ok], hi[ok], color=_CURVE, alpha=0.15, linewidth=0)
    elif low is not None and high is not None and len(x) == 1 and np.isfinite(low[0]) and np.isfinite(high[0]):
        ax.errorbar(x, acc, yerr=[[acc[0] - 100 * low[0]], [100 * high[0] - acc[0]]], color=_CURVE, capsize=3,
                    linewidth=1)
    line, = ax.plot(x, acc, color=_CURVE, marker="o", markersize=3.5, linewidth=1.8, label=label or "accuracy")
    line.set_gid("al-curve")
    xmax = max([*x[np.isfinite(x)], xmax_hint or 0.0]) or 1.0
    ymin = min([50.0, *(acc[np.isfinite(acc)] - 5)])
    for extra, style in ((baseline, dict(color=_BASE, linestyle="--", marker="s", markersize=2.5, linewidth=1.3)),
                         (band, dict(color=_CURVE, linestyle=":", linewidth=1.2))):
        if extra is None or not len(extra["x"]):
            continue
        bx, by = np.asarray(extra["x"], dtype=float), 100 * np.asarray(extra["accuracy"], dtype=float)
        blo = 100 * np.asarray(extra.get("low", by / 100), dtype=float)
        bhi = 100 * np.asarray(extra.get("high", by / 100), dtype=float)
        ok = np.isfinite(bx) & np.isfinite(by)
        if not ok.any():
            continue
        fill = ok & np.isfinite(blo) & np.isfinite(bhi)
        if fill.sum() > 1:
            ax.fill_between(bx[fill], blo[fill], bhi[fill], color=style["color"], alpha=0.1, linewidth=0)
        ax.plot(bx[ok], by[ok], label=extra.get("label"), **style)
        xmax = max(xmax, float(bx[ok].max()))
        ymin = min(ymin, float(np.nanmin(np.where(fill, blo, by)[ok])) - 2)
    if baseline is not None and len(baseline["x"]):
        ax.legend(loc="lower right", fontsize=7, frameon=False, labelcolor=_INK)
    if target is not None:
        ax.axhline(100 * target, color=_TARGET, linestyle="--", linewidth=1)
        ax.annotate(f"target {100 * target:.0f}%", (0, 100 * target), xycoords=("axes fraction", "data"),
                    xytext=(3, 2), textcoords="offset points", fontsize=7, color=_TARGET, va="bottom")
    if projection is not None and len(x):
        px, py = projection
        ax.plot([x[-1], px], [acc[-1], 100 * py], color=_CURVE, linestyle=":", linewidth=1.2)
        ax.plot([px], [100 * py], marker="x", color=_CURVE, markersize=5)
        xmax = max(xmax, px)
    ax.set_xlim(0, xmax * 1.08)
    ax.set_ylim(max(0.0, np.floor(ymin / 10) * 10), 101)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0, symbol=""))
    ax.xaxis.set_major_locator(MaxNLocator(5, integer=xmax >= 5))
    ax.yaxis.set_major_locator(MaxNLocator(5, integer=True))
    fig.tight_layout(pad=0.4)
    return _svg(fig)

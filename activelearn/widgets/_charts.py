"""The dashboard's charts: matplotlib (object API, Agg-free SVG backend) rendered to inline SVG.

No pyplot: charts are drawn from the retrain worker and the widget's poller thread,
and pyplot's global figure manager is not thread-safe. Text, axes and ticks are
drawn in a sentinel colour that is replaced by ``currentColor``, and the curve
by JupyterLab's brand colour, so the charts follow the light or dark theme.

:func:`render_charts` draws them in one worker process (started on first use,
at a lower CPU priority): drawing is pure Python that would otherwise hold the
kernel's GIL for about half a second per retrain while a person presses keys.
The chart functions take plain data and return SVG text, so the worker's
charts are the very same text; without a worker they are drawn in-process.
"""

import atexit
import io
import os
import pickle
import re
import selectors
import struct
import subprocess
import sys
import threading
import time

import numpy as np

__all__ = ["accuracy_chart", "render_charts", "start_chart_worker", "WORKER_NICE"]

#: How much lower the chart worker's CPU priority is than the kernel's (``os.nice`` increment).
WORKER_NICE = 10
#: Seconds to wait for the worker's charts before drawing them in-process instead.
WORKER_TIMEOUT = 120.0
_WORKER = None  # the worker process, started on first use
_WORKER_LOCK = threading.Lock()  # one request at a time; guards _WORKER
_WORKER_BROKEN = False  # the worker could not start, died or hung: draw in-process from then on


class _NoWorker(Exception):
    """The worker is not there (it could not start, died or does not answer)."""


def _draw(specs):
    """``{name: svg}`` for ``{name: (args, kwargs)}`` of :func:`accuracy_chart`."""
    return {name: accuracy_chart(*args, **kwargs) for name, (args, kwargs) in specs.items()}


def _serve():
    """The worker's loop: one pickled request in on stdin, one pickled ``(ok, result)`` out on stdout."""
    try:
        os.nice(int(os.environ.get("ACTIVELEARN_CHART_NICE", WORKER_NICE)))
    except OSError:  # not permitted here: the worker still takes the work off the kernel's GIL
        pass
    from matplotlib.figure import Figure  # noqa: F401 - imported before the first request waits for it

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the answers
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return  # the kernel closed the pipe: it is gone or done
        specs = pickle.loads(stdin.read(struct.unpack("<Q", head)[0]))
        try:
            answer = (True, _draw(specs))
        except Exception as exc:  # noqa: BLE001 - raised again in the kernel, as if drawn there
            answer = (False, exc)
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(struct.pack("<Q", len(data)) + data)
        stdout.flush()


class _Worker:
    """A Python process that draws charts: a subprocess running :func:`_serve`, not multiprocessing.

    Not a multiprocessing pool: its spawned children run the parent's ``__main__`` script again,
    and a notebook's kernel may be such a script.
    """

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
                   ACTIVELEARN_CHART_NICE=str(WORKER_NICE))
        self.proc = subprocess.Popen([sys.executable, "-c", "from activelearn.widgets._charts import _serve; _serve()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.fd = self.proc.stdout.fileno()

    def _read(self, n, deadline):
        chunks, got = [], 0
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while got < n:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):  # waits without holding the GIL
                    raise _NoWorker("the chart worker did not answer in time")
                chunk = os.read(self.fd, n - got)
                if not chunk:
                    raise _NoWorker("the chart worker has ended")
                chunks.append(chunk)
                got += len(chunk)
        return b"".join(chunks)

    def draw(self, specs, timeout):
        data = pickle.dumps(specs, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
        except OSError as exc:
            raise _NoWorker(str(exc)) from exc
        deadline = time.monotonic() + timeout
        ok, result = pickle.loads(self._read(struct.unpack("<Q", self._read(8, deadline))[0], deadline))
        if not ok:
            raise result
        return result

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _worker():
    """The running worker (started here if need be), or None where none can run."""
    global _WORKER, _WORKER_BROKEN
    if _WORKER is None and not _WORKER_BROKEN:
        try:
            _WORKER = _Worker()
        except OSError:
            _WORKER_BROKEN = True
    return _WORKER


def _give_up():
    global _WORKER, _WORKER_BROKEN
    worker, _WORKER, _WORKER_BROKEN = _WORKER, None, True
    if worker is not None:
        worker.close()


@atexit.register
def _close_worker():
    with _WORKER_LOCK:
        if _WORKER is not None:
            _WORKER.close()


def start_chart_worker():
    """Start the chart worker process now (if it is not running), so that the first charts need not wait for it.

    Never waits: while charts are being drawn the worker is running already.
    """
    if _WORKER_LOCK.acquire(blocking=False):
        try:
            _worker()
        finally:
            _WORKER_LOCK.release()


def render_charts(specs, worker=True):
    """Draw several charts at once, in the chart worker process when it can run.

    The worker is one Python process at a lower CPU priority (``WORKER_NICE``), started on first
    use and kept; drawing there keeps matplotlib's pure-Python work off the kernel's GIL.

    Parameters
    ----------
    specs : dict
        ``{name: (args, kwargs)}``: the arguments of :func:`accuracy_chart` for each chart (plain
        numbers, strings, arrays and dicts of those).
    worker : bool
        Draw in the worker process; False, or where the worker cannot start, has died or does not
        answer within ``WORKER_TIMEOUT`` seconds, they are drawn here (from then on).

    Returns
    -------
    dict
        ``{name: svg}``, the same text either way.
    """
    if not specs:
        return {}
    if worker:
        with _WORKER_LOCK:
            w = _worker()
            if w is not None:
                try:
                    return w.draw(specs, WORKER_TIMEOUT)
                except (_NoWorker, OSError, EOFError, pickle.UnpicklingError):
                    _give_up()
    return _draw(specs)


_INK = "#0a0b0c"  # sentinel for text, axes, ticks: becomes currentColor
_CURVE = "#0c0b0a"  # sentinel for the data: becomes the theme's brand colour
_TARGET = "#0b0c0a"  # sentinel for the target line: becomes the theme's warning colour
_BASE = "#0a0c0b"  # sentinel for the random-sampling baseline: becomes the theme's secondary text colour
_SWAPS = {_INK: "currentColor", _CURVE: "var(--al-brand, #1976d2)", _TARGET: "var(--al-warn0, #e65100)",
          _BASE: "var(--al-fg2, #757575)"}  # the view's theme colours (labeling.css), fallbacks outside it
_LOCK = threading.Lock()  # rc_context touches matplotlib's global rcParams


def _svg(fig):
    import matplotlib

    buf = io.StringIO()
    with _LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "activelearn"}):
        # no creation date: the same chart is the same text (wherever it is drawn; an unchanged one is not resent)
        fig.savefig(buf, format="svg", transparent=True, metadata={"Date": None})
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

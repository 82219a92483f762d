"""Start JupyterLab on 127.0.0.1 in a temporary folder and drive it with headless Chromium.

Used by the real-browser tests and by ``benchmarks/widget_latency.py``.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("ACTIVELEARN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser_unavailable_reason():
    """Why a real-browser test cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python playwright is not installed (pip install playwright)"
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def front_end_unavailable_reason(app):
    """Why ``app`` ("lab", "notebook", "voila") cannot be started here, or None."""
    module = {"lab": "jupyterlab", "notebook": "notebook", "voila": "voila"}[app]
    try:
        __import__(module)
    except ImportError:
        return f"{module} is not installed (pip install -r requirements-dev.txt)"
    return None


@contextmanager
def jupyter_lab(root, app="lab", notebook=None):
    """Run ``jupyter lab`` (or ``notebook``, or ``voila notebook``) serving ``root``; yield its base URL.

    The server is stopped by its process group id. The kernels it starts inherit this environment
    (``PYTHONPATH`` included), so they import the activelearn under test.
    """
    port = _free_port()
    # Settings (the theme a test picks) and workspaces stay in the test's folder, never the user's.
    env = dict(os.environ, JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1",
               JUPYTERLAB_SETTINGS_DIR=str(Path(root) / ".lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(Path(root) / ".lab-workspaces"))
    common = ["--no-browser", f"--port={port}"]
    if app == "voila":
        cmd = [sys.executable, "-m", "voila", *common, "--Voila.ip=127.0.0.1", "--Voila.root_dir=" + str(root),
               "--show_tracebacks=True", "--ServerApp.allow_root=True", str(notebook)]
    else:
        cmd = [sys.executable, "-m", "jupyter", app, *common, "--allow-root", "--ip=127.0.0.1",
               "--IdentityProvider.token=", "--ServerApp.password=",
               "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
               f"--{'LabApp' if app == 'lab' else 'JupyterNotebookApp'}.expose_app_in_browser=True"]
        if app == "lab":
            cmd += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    probe = (lambda url: socket.create_connection(("127.0.0.1", port), timeout=2).close()) if app == "voila" \
        else (lambda url: urllib.request.urlopen(url + "/api/status", timeout=2))  # voila's "/" would run it
    with serve(cmd, root, env, port, f"{app}.log", probe, app, timeout=90, poll=0.5) as url:
        yield url


@contextmanager
def serve(cmd, root, env, port, log_name, probe, what, timeout, poll):
    """Start ``cmd`` in its own process group (output to ``root/log_name``), wait until ``probe(url)`` stops
    raising OSError, yield the URL, stop the group at the end. A server that exits or is not up within
    ``timeout`` seconds raises with the end of its log."""
    log_path = Path(root) / log_name
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                probe(url)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{what} did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(poll)
        yield url
    finally:
        stop_process_group(proc, log)


def stop_process_group(proc, log=None):
    """Stop a server started in its own session (and everything it started): SIGTERM, then SIGKILL after 20 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if log is not None:
        log.close()


@contextmanager
def chromium_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            yield page
        finally:
            browser.close()


def copy_notebook(name, root):
    src = Path(__file__).resolve().parents[1] / "notebooks" / name
    shutil.copy(src, Path(root) / name)
    return name


def run_command(page, command):
    """Execute a JupyterLab command (the app is exposed with ``expose_app_in_browser``)."""
    page.evaluate("(c) => { window.jupyterapp.commands.execute(c); }", command)


def open_and_run(page, url, notebook, app="lab"):
    page.goto(f"{url}/lab/tree/{notebook}" if app == "lab" else f"{url}/notebooks/{notebook}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget &&"
                           " window.jupyterapp.shell.currentWidget.sessionContext &&"
                           " window.jupyterapp.shell.currentWidget.sessionContext.session &&"
                           " window.jupyterapp.shell.currentWidget.sessionContext.session.kernel", timeout=60_000)
    run_command(page, "notebook:run-all-cells")
    return wait_for_widget(page)


def wait_for_widget(page, timeout=180_000):
    page.wait_for_function(
        "(() => { const r = document.querySelector('.al-root:not([data-old])');"
        " return r && r.dataset.itemId; })()", timeout=timeout)
    return page.locator(".al-root:not([data-old])")


def shown_item(page):
    return page.evaluate("document.querySelector('.al-root:not([data-old])').dataset.itemId")


def wait_item_change(page, old, timeout=30_000):
    page.wait_for_function(
        "(old) => { const r = document.querySelector('.al-root:not([data-old])');"
        " return r && r.dataset.itemId && r.dataset.itemId !== old; }", arg=old, timeout=timeout)
    return shown_item(page)


def restart_and_run_all(page):
    page.evaluate("document.querySelectorAll('.al-root').forEach(r => r.setAttribute('data-old', '1'))")
    run_command(page, "notebook:restart-run-all")
    page.click(".jp-Dialog .jp-mod-accept", timeout=30_000)
    return wait_for_widget(page)

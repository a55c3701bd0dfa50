"""Notebook 05's ranked-list browser in a real browser: JupyterLab and Voilà in headless Chromium.

One test (the two pages share the trained runs: JupyterLab trains them, Voilà reuses them, so
they must not run on two xdist workers at once). It

1. writes notebook 05 with the smoke parameters injected (``papermill``'s parameterisation,
   no execution; the smallest settings: one protocol, no re-ranking, run B = run A's config so
   one tiny training serves both panels) into a temporary folder;
2. starts JupyterLab there on a free localhost port (token set, no browser), opens the notebook
   in Chromium (Debian's ``chromium`` driven by Playwright), runs all cells from the Run menu and
   checks in the page that the browser renders, that choosing another query changes the shown
   gallery, and that clicking a result makes it the query;
3. does the same on the Voilà page of the same notebook.

Screenshots go to the test's ``tmp_path`` and are copied to ``runs/browser_tests/``.
A missing Chromium is an error (install it with ``apt-get install -y chromium``; ``make test``
does so when run as root), never a skip.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NB05 = REPO / "notebooks" / "05_ranked_lists.ipynb"
SHOTS = REPO / "runs" / "browser_tests"
TOKEN = "reidlab-browser-test"
# Generous: a contended 2-core machine starts a kernel, imports torch and trains in these.
RUN_TIMEOUT_MS = int(os.environ.get("REIDLAB_BROWSER_RUN_TIMEOUT_S", "420")) * 1000
UI_TIMEOUT_MS = int(os.environ.get("REIDLAB_BROWSER_UI_TIMEOUT_S", "60")) * 1000


def chromium_path() -> str:
    """Chromium's executable (``$REIDLAB_CHROMIUM`` or ``chromium`` on PATH); fails loudly."""
    for cand in (os.environ.get("REIDLAB_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and Path(cand).exists():
            return cand
    pytest.fail("the browser tests need Chromium and none was found: install Debian's package "
                "(`apt-get install -y chromium`, which `make test` does when run as root) or set "
                "REIDLAB_CHROMIUM=/path/to/chromium", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers 200 (the server process must stay alive)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; log:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s; log:\n{log.read_text()[-3000:]}")


def smoke_parameters(folder: Path) -> dict:
    """Notebook 05's smoke parameters, made as small as the checks allow."""
    from reidlab.notebooks.runner import load_params, resolve_parameters

    params = load_params(REPO / "notebooks" / "params" / "smoke.yaml")
    own = dict(params.get("05_ranked_lists", {}))
    own.update(run_b=own.get("run_a", "msn"), rerank=[False], k=5, n_queries=2)
    if own.get("protocols"):
        own["protocols"] = list(own["protocols"])[:1]
    params["05_ranked_lists"] = own
    common = {"preset": "smoke", "seed": 0, "out_dir": str(folder / "out"), "runs_dir": str(folder / "runs")}
    passed, _ = resolve_parameters(NB05, common, params)
    return passed


def write_notebook(folder: Path) -> Path:
    """Notebook 05 with the smoke parameters injected (not executed) as ``folder/nb05.ipynb``."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = parameterize_notebook(load_notebook_node(str(NB05)), smoke_parameters(folder))
    path = folder / "nb05.ipynb"
    nbformat.write(nb, path)
    return path


class Server:
    """A Jupyter server process (JupyterLab or Voilà) whose output goes to a log file."""

    def __init__(self, args: list[str], cwd: Path, log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._fh = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, stdout=self._fh,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._fh.close()


def server_env(folder: Path) -> dict[str, str]:
    # no "official Jupyter news?" toast over the page
    news = folder / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    # every cell in the DOM (Lab 4 virtualises off-screen cells), so outputs can be waited for
    tracker = folder / "lab-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
               OMP_NUM_THREADS="1", MPLBACKEND="Agg",
               # private settings/workspace/runtime folders: no state from (or into) the user's Lab
               JUPYTERLAB_SETTINGS_DIR=str(folder / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(folder / "lab-workspaces"),
               JUPYTER_RUNTIME_DIR=str(folder / "jupyter-runtime"))
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


# ---------------------------------------------------------------------------- page checks
def _query_select(page):
    return page.locator(".widget-dropdown", has=page.locator("label", has_text="query")).locator("select")


def _gallery_labels(page) -> list[str]:
    """Labels of the shown result buttons ("rank. distance"), both panels, in page order."""
    return [t.strip() for t in page.locator("button.widget-button").all_inner_texts()
            if re.match(r"^\s*\d+\.\s+\d", t)]


_GALLERY_CHANGED = """(old) => {
    const l = [...document.querySelectorAll('button.widget-button')].map(b => b.innerText.trim())
        .filter(t => /^\\d+\\.\\s+\\d/.test(t));
    return l.length === old.length && JSON.stringify(l) !== JSON.stringify(old);
}"""


def _wait_gallery_changed(page, before: list[str]) -> None:
    """Wait until both panels show as many results as before, with other ranks/distances (a
    half-updated page, one panel redrawn and the other not yet, has fewer buttons)."""
    page.wait_for_function(_GALLERY_CHANGED, arg=before, timeout=UI_TIMEOUT_MS)


def _query_text(page) -> str:
    return page.locator(".widget-html-content", has_text=re.compile(r"^query q\d+")).first.inner_text()


def _shot(page, anchor, prefix: Path, what: str) -> None:
    """Screenshot with the browser widget's controls at the top of the view."""
    anchor.evaluate("e => e.closest('.widget-vbox').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(prefix.with_name(f"{prefix.name}_{what}.png")), full_page=True)


def check_browser_page(page, shot_prefix: Path) -> dict:
    """The three behaviours, checked in the rendered page; returns what it saw."""
    select = _query_select(page)
    select.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    page.locator("button.widget-button", has_text=re.compile(r"^\s*1\.\s")).first.wait_for(timeout=UI_TIMEOUT_MS)
    options = select.locator("option").all_inner_texts()
    assert len(options) >= 2, f"the query list has {len(options)} entries; need two to switch"
    before_q, before_g = _query_text(page), _gallery_labels(page)
    assert before_g, "no result buttons rendered"
    _shot(page, select, shot_prefix, "1_rendered")

    # choose a query of another ID: the query line and the gallery must change
    current = select.input_value()
    # ipywidgets writes the label as the option's value (with plain spaces) and as its text (non-breaking)
    opts = select.locator("option").evaluate_all("os => os.map(o => [o.value, o.value])")
    cur_id = re.search(r"ID (\d+)", dict(opts)[current]).group(1)
    other = next(v for v, label in opts if re.search(r"ID (\d+)", label).group(1) != cur_id)
    other_q = re.match(r"q(\d+)", dict(opts)[other]).group(1)
    select.select_option(value=other)
    page.wait_for_function(
        "(q) => [...document.querySelectorAll('.widget-html-content')].some(e => e.innerText.startsWith(q))",
        arg=f"query q{other_q} ", timeout=UI_TIMEOUT_MS)
    _wait_gallery_changed(page, before_g)
    after_q, after_g = _query_text(page), _gallery_labels(page)
    assert after_q != before_q and after_g != before_g
    _shot(page, select, shot_prefix, "2_other_query")

    # click a wrong-ID result (red): it becomes the query (another ID, so another query record)
    clicked = None
    wrong = page.locator("button.widget-button.mod-danger")
    for i in range(wrong.count()):
        q_before, g_before = _query_text(page), _gallery_labels(page)
        wrong.nth(i).click()
        status = page.locator(".widget-html-content i", has_text=re.compile("query set to|query unchanged")).first
        status.wait_for(timeout=UI_TIMEOUT_MS)
        m = re.search(r"query set to q(\d+)", status.inner_text())
        if m:
            page.wait_for_function(
                "(q) => [...document.querySelectorAll('.widget-html-content')].some(e => e.innerText.startsWith(q))",
                arg=f"query q{m.group(1)} ", timeout=UI_TIMEOUT_MS)
            _wait_gallery_changed(page, g_before)
            shown = select.input_value()
            assert shown.startswith(f"q{m.group(1)} "), f"the query dropdown shows {shown!r}, not the clicked result's query"
            assert _query_text(page) != q_before
            clicked = int(m.group(1))
            break
    assert clicked is not None, "no wrong-ID result could be made the query (none shown, or none has a query)"
    _shot(page, select, shot_prefix, "3_clicked_result")
    return {"options": len(options), "before": before_q, "after": after_q, "clicked": clicked}


def run_all_in_lab(page) -> None:
    """JupyterLab: wait for the notebook and its kernel, then Run > Run All Cells."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator(".jp-Notebook").first.wait_for(timeout=UI_TIMEOUT_MS * 2)
    # the status bar reads "Python 3 (ipykernel) | Idle" once the kernel is up and connected
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\|\s*Idle")).first.wait_for(timeout=UI_TIMEOUT_MS * 3)
    # Queued cells show "[*]" at once; a Run All dropped by a page still settling shows nothing:
    # only then (no prompt after a minute) is it issued again, so cells never run twice.
    started = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            started.first.wait_for(state="attached", timeout=60_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    # the last cell prints "written: .../ranked_lists.png": every cell ran
    page.locator(".jp-OutputArea-output", has_text="written:").first.wait_for(state="attached",
                                                                              timeout=RUN_TIMEOUT_MS)


def test_ranked_list_browser_in_jupyterlab_and_voila(tmp_path: Path) -> None:
    exe = chromium_path()
    from playwright.sync_api import sync_playwright

    nb = write_notebook(tmp_path)
    env = server_env(tmp_path)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in [*SHOTS.glob("*.png"), *SHOTS.glob("*.log")]:
        old.unlink()  # screenshots of an earlier run would mislead
    seen = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            # ---------------- JupyterLab
            port = free_port()
            lab = Server(["jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                          f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}",
                          "--LabApp.news_url=", *(["--allow-root"] if os.geteuid() == 0 else [])],
                         tmp_path, tmp_path / "jupyterlab.log", env)
            try:
                wait_http(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", lab.proc, lab.log)
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{nb.name}?token={TOKEN}&reset")
                try:
                    run_all_in_lab(page)
                    seen["lab"] = check_browser_page(page, tmp_path / "jupyterlab")
                except Exception:
                    page.screenshot(path=str(tmp_path / "jupyterlab_failed.png"))
                    raise
                page.close()
            finally:
                lab.stop()
            # ---------------- Voilà (the runs trained above are reused: same config hash)
            port = free_port()
            voila = Server(["voila", nb.name, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                            "--show_tracebacks=True"], tmp_path, tmp_path / "voila.log", env)
            try:
                _wait_port(port, voila)
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/", timeout=RUN_TIMEOUT_MS)
                try:
                    seen["voila"] = check_browser_page(page, tmp_path / "voila")
                except Exception:
                    page.screenshot(path=str(tmp_path / "voila_failed.png"), full_page=True)
                    raise
                page.close()
            finally:
                voila.stop()
        finally:
            browser.close()
            for png in tmp_path.glob("*.png"):
                shutil.copy2(png, SHOTS / png.name)
            for log in ("jupyterlab.log", "voila.log"):
                if (tmp_path / log).exists():
                    shutil.copy2(tmp_path / log, SHOTS / log)
    assert set(seen) == {"lab", "voila"}


def _wait_port(port: int, server: Server, timeout: float = 120.0) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if server.proc.poll() is not None:
            raise RuntimeError(f"voila exited with {server.proc.returncode}; log:\n{server.log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"voila did not listen on {port} within {timeout} s")

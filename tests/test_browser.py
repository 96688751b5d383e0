"""The widgets in a real browser: JupyterLab + headless Chromium via Playwright.

Runs every cell of notebooks/04_sampling_and_latent_space.ipynb (quick mode) in a temporary
copy, then moves a `LatentExplorer` slider with the keyboard and presses the `Interpolator`'s
play button, checking that the kernel's new images reach the page; then types captions into
notebook 09's `PromptExplorer` (on the zoo text GAN, in a one-cell notebook). The measured
slider → new image and prompt → new image latencies and the playback frame rate go into the
test report (``record_property``: per test, which pytest-xdist passes on, where suite
properties were lost).

Needs Debian's ``chromium`` (or ``$IMGENLIB_CHROMIUM``) and the ``playwright`` Python client;
no Playwright browser download. Both are installed by ``.ci/run`` and the ``test`` extra.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "04_sampling_and_latent_space.ipynb"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_S = 120
KERNEL_IDLE_S = 300
RUN_ALL_S = 900
UPDATE_S = 60
SLIDER_MOVES = 8

# In-page probes. `jupyterapp` is exposed by --LabApp.expose_app_in_browser.
NOTEBOOK_READY_JS = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return Boolean(kernel && kernel.status === 'idle' && panel.content.widgets.length);
}"""
RUN_STATE_JS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code');
    const errors = [];
    let pending = 0;
    cells.forEach((cell, i) => {
        const prompt = cell.node.querySelector('.jp-InputPrompt');
        if (cell.model.executionCount === null || (prompt && prompt.textContent.includes('*'))) {
            pending += 1;
        }
        for (const out of cell.model.outputs.toJSON()) {
            if (out.output_type === 'error') {
                errors.push(`code cell ${i}: ${out.ename}: ${out.evalue}`);
            }
        }
    });
    return {
        pending, errors, cells: cells.length,
        kernel: panel.sessionContext.session.kernel.status,
    };
}"""
IMAGE_SHA_JS = """async (img) => {
    const data = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', data);
    return Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, '0')).join('');
}"""
WATCH_IMAGE_JS = """(img) => {
    const log = {keys: [], srcs: [], loads: []};
    document.addEventListener('keydown', e => log.keys.push(e.timeStamp), true);
    new MutationObserver(() => log.srcs.push(performance.now()))
        .observe(img, {attributes: true, attributeFilter: ['src']});
    img.addEventListener('load', () => log.loads.push(performance.now()));
    img.__imgenlibLog = log;
}"""
NEW_IMAGE_JS = """([img, before]) => img.src && img.src !== before && img.complete
    && img.naturalWidth > 0"""


def chromium_path():
    """The Chromium executable: $IMGENLIB_CHROMIUM, else `chromium` on PATH; fails if absent."""
    path = os.environ.get("IMGENLIB_CHROMIUM") or shutil.which("chromium")
    if not path or not os.access(path, os.X_OK):
        pytest.fail(
            "Chromium not found: the browser test needs Debian's `chromium` package "
            "(`apt-get install -y chromium`, as .ci/run does) or IMGENLIB_CHROMIUM=/path/to/it."
        )
    return path


def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        pytest.fail(
            "The browser test needs the playwright Python client: "
            "`pip install -e '.[test]'` (no `playwright install`: it uses the system Chromium)."
        )
    return start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Process ids of every descendant of `pid` (Linux /proc; empty elsewhere)."""
    children = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_quietly(pid: int, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class LabServer:
    """JupyterLab on 127.0.0.1 with a token, serving a temporary copy of notebooks/."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.notebooks = workdir / "notebooks"
        shutil.copytree(ROOT / "notebooks", self.notebooks)
        settings = workdir / "lab-settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        # Every cell in the DOM, not only the visible ones.
        (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log_path = workdir / "jupyter.log"
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = {
            **os.environ,
            "IMGENLIB_QUICK": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
            "JUPYTER_DATA_DIR": str(self.workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.workdir / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.workdir / "workspaces"),
        }
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--no-browser",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebooks}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            command, cwd=self.notebooks, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("status")
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{self.log_tail()}")

    def api(self, path, method="GET"):
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines=40):
        if self.log_path.exists():
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self):
        """Shut the server and its kernels down; kill whatever is left."""
        if self.process is None:
            return
        children = descendants(self.process.pid)
        if self.process.poll() is None:
            try:
                self.api("shutdown", method="POST")
            except (urllib.error.URLError, OSError):
                self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in children:
            kill_quietly(pid)
        self.log.close()


@pytest.fixture(scope="module")
def lab_browser():
    """JupyterLab serving a copy of notebooks/ and headless Chromium; yields (browser, server)."""
    executable = chromium_path()
    start_playwright = sync_playwright()
    workdir = Path(tempfile.mkdtemp(prefix="imgenlib-browser-"))
    server = None
    try:
        server = LabServer(workdir)
        server.start()
        with start_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_FLAGS
            )
            try:
                yield browser, server
            finally:
                browser.close()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run_notebook_in_page(browser, server, name):
    """Open notebook `name` (in the server's copy) in a new page, run every cell; returns
    (page, seconds the run took)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(UPDATE_S * 1000)
    workspace = Path(name).stem  # one workspace per notebook: no other notebook restored
    page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{name}?token={server.token}")
    try:
        page.wait_for_function(NOTEBOOK_READY_JS, timeout=KERNEL_IDLE_S * 1000)
    except Exception as error:
        pytest.fail(
            f"The notebook's kernel was not idle within {KERNEL_IDLE_S} s ({error})."
            f"\nServer log:\n{server.log_tail()}"
        )
    start = time.perf_counter()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    state = wait_for_run(page, server, name)
    run_s = time.perf_counter() - start
    print(f"\n{name} ran in the browser in {run_s:.0f} s ({state['cells']} cells)")
    return page, run_s


@pytest.fixture(scope="module")
def lab_notebook(lab_browser):
    """Notebook 04 open in headless Chromium with all cells run; yields (page, run seconds)."""
    page, run_s = run_notebook_in_page(*lab_browser, NOTEBOOK)
    yield page, run_s
    page.close()


def wait_for_run(page, server, name):
    """Poll until every code cell has run and the kernel is idle; fail on an error output."""
    deadline = time.monotonic() + RUN_ALL_S
    idle_polls = 0
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(RUN_STATE_JS)
        if state["errors"]:
            pytest.fail(f"{name} failed in the browser:\n" + "\n".join(state["errors"]))
        idle_polls = idle_polls + 1 if not state["pending"] and state["kernel"] == "idle" else 0
        if idle_polls >= 3:
            return state
        time.sleep(1)
    pytest.fail(
        f"{name} did not finish within {RUN_ALL_S} s in the browser (last state {state})."
        f"\nServer log:\n{server.log_tail()}"
    )


def widget_output(page, selector, text):
    """The single output area holding a widget element `selector` whose text contains `text`."""
    outputs = page.locator(".jp-OutputArea-output").filter(
        has=page.locator(selector, has_text=text)
    )
    assert outputs.count() == 1, f"expected one output with {selector} {text!r}"
    return outputs.first


def readout_value(readout) -> float:
    """A slider's readout as a number (the page writes minus as U+2212)."""
    return float(readout.inner_text().strip().replace("\u2212", "-"))


def image_sha(img):
    return img.evaluate(IMAGE_SHA_JS)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_latent_explorer_slider_updates_image(lab_notebook, record_property):
    page, run_s = lab_notebook
    record_property("notebook_run_s", round(run_s, 1))
    output = widget_output(page, ".widget-slider", "PC1")
    img = output.locator("img").first
    slider = output.locator(".widget-slider", has_text="PC1")
    handle = slider.locator(".noUi-handle")
    readout = slider.locator(".widget-readout")
    start_value = readout_value(readout)
    img.evaluate(WATCH_IMAGE_JS)
    first = image_sha(img)
    latencies, shas = [], [first]
    for move in range(1, SLIDER_MOVES + 1):
        before = img.get_attribute("src")
        handle.press("ArrowRight")
        page.wait_for_function(NEW_IMAGE_JS, arg=[img.element_handle(), before])
        log = img.evaluate("img => img.__imgenlibLog")
        latencies.append(log["loads"][-1] - log["keys"][-1])
        shas.append(image_sha(img))
        assert readout_value(readout) == pytest.approx(start_value + 0.1 * move, abs=1e-6)
    assert shas[1] != first, "the explorer's image did not change when its PC1 slider moved"
    assert len(set(shas)) == len(shas), f"some slider moves gave an unchanged image: {shas}"
    median = statistics.median(latencies)
    print(
        f"slider -> new image in the page: median {median:.0f} ms over {len(latencies)} moves "
        f"(min {min(latencies):.0f}, max {max(latencies):.0f}): {[round(t) for t in latencies]}"
    )
    record_property("slider_to_image_ms_median", round(median, 1))
    record_property("slider_to_image_ms", [round(t, 1) for t in latencies])
    assert median < 5000, f"slider -> image took {median:.0f} ms (median)"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_interpolator_play_advances_frames(lab_notebook, record_property):
    page, _ = lab_notebook
    output = widget_output(page, ".widget-slider", "frame")
    img = output.locator("img").first
    readout = output.locator(".widget-slider", has_text="frame").locator(".widget-readout")
    last_frame = "8"  # steps=STEPS=9 in the notebook
    assert readout_value(readout) == 0
    img.evaluate(WATCH_IMAGE_JS)
    first = image_sha(img)
    clicked = page.evaluate("() => performance.now()")
    output.locator(".widget-play button").first.click()
    page.wait_for_function(
        "([el, value]) => el.textContent.trim() === value",
        arg=[readout.element_handle(), last_frame],
        timeout=UPDATE_S * 1000,
    )
    time.sleep(2)
    log = img.evaluate("img => img.__imgenlibLog")
    frames = len(log["srcs"])
    assert frames >= 3, f"the Interpolator showed {frames} new frames after play (expected >= 3)"
    assert image_sha(img) != first, "the Interpolator's last frame is still the first image"
    span_ms = log["srcs"][-1] - log["srcs"][0]
    fps = (frames - 1) / span_ms * 1000 if span_ms > 0 else float("nan")
    print(
        f"play: {frames} new frames, {fps:.1f} frames/s (the Play widget ticks every 150 ms), "
        f"last frame {log['srcs'][-1] - clicked:.0f} ms after the click"
    )
    record_property("play_frames", frames)
    record_property("play_fps", round(fps, 2))


PROMPT_NOTEBOOK = "prompt_explorer_in_browser.ipynb"
PROMPT_CELL = """import imgenlib
from imgenlib import pretrained

model = pretrained.load("shapes_captions_text_gan")
explorer = imgenlib.PromptExplorer(model, "a large red circle in the centre", n=4, seed=0)
explorer"""  # notebook 09's explorer, on the zoo text GAN that 09 also loads
STATUS_FRAME = re.compile(r"frame (\d+) ms")


def write_notebook(path, source):
    """A one-code-cell notebook (nbformat 4) at `path`."""
    cell = {"cell_type": "code", "execution_count": None, "id": "explorer", "metadata": {},
            "outputs": [], "source": source}  # fmt: skip
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook = {"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4,
                "nbformat_minor": 5}  # fmt: skip
    path.write_text(json.dumps(notebook))


@pytest.fixture(scope="module")
def prompt_page(lab_browser):
    browser, server = lab_browser
    write_notebook(server.notebooks / PROMPT_NOTEBOOK, PROMPT_CELL)
    page, _ = run_notebook_in_page(browser, server, PROMPT_NOTEBOOK)
    yield page
    page.close()


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_prompt_explorer_redraws_what_is_typed(prompt_page, record_property):
    """Typing a caption into the PromptExplorer's text box (as a user does: the page's input
    event, no Python call) redraws the picture; a caption with no known word keeps the
    picture and says which words the model knows. The page latency and the kernel's frame
    time (its status line) go into the report."""
    page = prompt_page
    output = widget_output(page, ".widget-text", "prompt")
    box = output.locator(".widget-text", has_text="prompt").locator("input")
    img = output.locator("img").first
    status = output.locator("div.widget-label")  # the status line (labels of controls: <label>)
    assert "a large red circle in the centre" in status.inner_text(), status.inner_text()
    shas = [image_sha(img)]
    latencies, frames = [], []
    for prompt in ("a small blue square in the bottom left", "a large green triangle top right"):
        before = img.get_attribute("src")
        typed = page.evaluate("() => performance.now()")
        box.fill(prompt)
        page.wait_for_function(NEW_IMAGE_JS, arg=[img.element_handle(), before])
        latencies.append(page.evaluate("() => performance.now()") - typed)
        shas.append(image_sha(img))
        page.wait_for_function(
            "([el, text]) => el.textContent.includes(text)",
            arg=[status.element_handle(), repr(prompt)],
        )
        frames.append(int(STATUS_FRAME.search(status.inner_text()).group(1)))
    assert len(set(shas)) == 3, f"a typed prompt did not change the picture: {shas}"
    before = img.get_attribute("src")
    box.fill("purple zebras")
    page.wait_for_function(
        "(el) => el.textContent.includes('not drawn')", arg=status.element_handle()
    )
    message = status.inner_text()
    assert "purple zebras" in message and "The model knows" in message and "circle" in message
    assert img.get_attribute("src") == before, "an unreadable prompt replaced the picture"
    print(
        f"typed prompt -> new image in the page: {[round(t) for t in latencies]} ms; "
        f"kernel frame times {frames} ms"
    )
    record_property("prompt_to_image_ms", [round(t, 1) for t in latencies])
    record_property("prompt_frame_ms", frames)
    assert all(0 <= ms < 5000 for ms in frames), frames


def test_missing_chromium_or_playwright_fails_instead_of_skipping(monkeypatch):
    monkeypatch.setenv("IMGENLIB_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        chromium_path()
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    with pytest.raises(pytest.fail.Exception, match="playwright Python client"):
        sync_playwright()

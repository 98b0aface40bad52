"""The console in a real headless browser (Debian's chromium driven by Playwright),
after whole calls through the real ``voice-agent serve`` (offline stack) and the real
softphone (``voice-agent call``): the calls page lists them, a call page shows the
transcript, stage timings and a recording that plays, the live page shows a call in
progress and then not, the latency page draws its charts. Screenshots are saved under
``test-artifacts/console/`` (or ``$TEST_ARTIFACTS``).

Run with ``make test-browser``; skipped, with the reason, where no browser is installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.demo.scenarios import CALLER_LINES
from tests.paths import REPO
from tests.serve_process import free_port

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(
        f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("faster_whisper", reason="the offline extra is not installed")
pytest.importorskip("espeakng_loader", reason="the offline extra is not installed")

pytestmark = [pytest.mark.browser, pytest.mark.realtime, pytest.mark.offline]

TOKEN = "browser-test-token"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / "test-artifacts")) / "console"
LAUNCH_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def script(tmp_path: Path, name: str, steps: list[dict]) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(steps))
    return path


def line(name: str) -> str:
    return str(CALLER_LINES / f"{name}.wav")


class Served:
    def __init__(self, tmp_path: Path) -> None:
        self.audio_port, self.console_port = free_port(), free_port()
        self.log = (tmp_path / "serve.log").open("w+")
        env = {
            **os.environ,
            "VOICE_AGENT_OFFLINE": "1",
            "VOICE_AGENT_RECORDING": "1",
            "VOICE_AGENT_CONSOLE_PORT": str(self.console_port),
            "VOICE_AGENT_CONSOLE_TOKEN": TOKEN,
            "VOICE_AGENT_METRICS_PORT": "0",
            "VOICE_AGENT_AGI_PORT": str(free_port()),
            "VOICE_AGENT_LOG_FORMAT": "text",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent", "serve", "--brain", "conversation",
             "--port", str(self.audio_port)],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.console_port}"

    def wait_serving(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.log.seek(0)
            if re.search(r"serving \(conversation", self.log.read()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.log.seek(0)
        raise AssertionError("serve did not start:\n" + self.log.read())

    def call(self, steps: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "agent", "call", "--port", str(self.audio_port),
             "--script", str(steps)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def served(tmp_path):
    server = Served(tmp_path)
    try:
        server.wait_serving()
        yield server
    finally:
        server.stop()


def finish(call: subprocess.Popen, timeout: float = 120.0) -> str:
    out, _ = call.communicate(timeout=timeout)
    assert call.returncode == 0, out
    return out


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_console_in_a_browser_after_whole_calls(served, tmp_path):
    quote = script(tmp_path, "quote", [
        {"say": line("how_much")}, {"wait_agent": 20}, {"say": line("goodbye")},
        {"wait_agent": 10}, {"hangup": True},
    ])  # fmt: skip
    human = script(tmp_path, "human", [{"say": line("person")}, {"wait_agent": 20}])
    finish(served.call(quote))
    finish(served.call(human))
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            # No token: the login form (401); the token logs in with a cookie.
            reply = page.goto(served.url + "/calls")
            assert reply is not None and reply.status == 401
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/calls$"))
            rows = page.locator("table.calls tbody tr")
            assert rows.count() == 2, page.content()
            assert "2 found" in page.inner_text("h1")
            shot(page, "calls")

            # The first call: transcript turn by turn, timing bars, a playable recording.
            page.locator("table.calls tbody tr").last.locator("a").click()
            page.wait_for_selector("ol.transcript")
            transcript = page.inner_text("ol.transcript")
            assert "Caller" in transcript and "Agent" in transcript
            assert page.locator(".bar .seg").count() > 0
            assert page.locator(".bar .total").count() > 0
            page.wait_for_selector("#waveform[data-drawn='1']")
            seconds = page.evaluate(
                """async () => {
                    const a = document.getElementById('player');
                    if (a.readyState < 1) await new Promise(r => a.addEventListener(
                        'loadedmetadata', r, {once: true}));
                    a.muted = true;
                    await a.play();
                    await new Promise(r => setTimeout(r, 400));
                    a.pause();
                    return [a.duration, a.currentTime, a.error];
                }"""
            )
            assert seconds[0] > 3 and seconds[1] > 0 and seconds[2] is None, seconds
            shot(page, "call")

            # Live: a call appears while it runs and goes when it ends.
            page.goto(served.url + "/live")
            assert page.locator("tr.none").count() == 1
            running = served.call(human)
            page.wait_for_selector("#live tbody tr[data-uuid]", timeout=30_000)
            shot(page, "live")
            finish(running)
            page.wait_for_selector("#live tbody tr.none", timeout=30_000)

            # Latency: the summary and one chart per stage, drawn by uPlot.
            page.goto(served.url + "/latency")
            page.wait_for_selector("#latency[data-drawn='1']")
            assert page.locator(".chart .uplot").count() == 5
            assert "mouth to ear" in page.inner_text("#latency-summary")
            shot(page, "latency")
            for name in ("bookings", "health"):
                page.goto(f"{served.url}/{name}")
                assert page.locator("h1").count() >= 1
                shot(page, name)
        finally:
            browser.close()

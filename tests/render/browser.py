"""A page loaded in a real browser: Debian's headless Chromium driven over the DevTools
protocol (websocket-client), for the tests of the pages buildorch writes."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import need_module, need_tool

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--remote-allow-origins=*"]


@dataclass
class Page:
    ws: Any
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    next_id: int = 0

    def call(self, method: str, **params: object) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.console_errors.append(json.dumps(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(json.dumps(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.console_errors.append(params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])

    def wait_for(self, event: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        self.ws.settimeout(timeout)
        while time.monotonic() < end:
            msg = json.loads(self.ws.recv())
            self._event(msg)
            if msg.get("method") == event:
                return
        raise AssertionError(f"no {event} within {timeout}s")

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")


@contextmanager
def loaded(path: Path) -> Iterator[Page]:
    """`path` loaded in a fresh headless Chromium (its own profile, no network of its own)."""
    chromium = need_tool("chromium", "Debian: apt-get install chromium; `make test` does")
    websocket = need_module("websocket", "pip install -e '.[test]' (websocket-client)")
    with tempfile.TemporaryDirectory(prefix="bo-chromium-") as profile:
        proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}",
                                 "about:blank"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            end = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > end:
                    raise AssertionError(f"chromium did not start (exit {proc.poll()})")
                time.sleep(0.1)
            port = port_file.read_text().split()[0]
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                targets = json.load(r)
            target = next(t for t in targets if t["type"] == "page")
            ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30)
            try:
                page = Page(ws)
                for domain in ("Runtime", "Log", "Network", "Page"):
                    page.call(f"{domain}.enable")
                page.call("Page.navigate", url=path.resolve().as_uri())
                page.wait_for("Page.loadEventFired")
                yield page
            finally:
                ws.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_BARS = """JSON.stringify({scale: parseFloat(document.getElementById('timeline').dataset.scale),
  bars: Array.from(document.querySelectorAll('svg#timeline rect.seg')).map(function (r) {
    var b = r.getBoundingClientRect();
    return {image: r.dataset.image, phase: r.dataset.phase, dur: parseFloat(r.dataset.dur),
            w: b.width, h: b.height};
  })})"""


def check_timings_page(path: Path, images: dict[str, dict[str, float]],
                       critical: tuple[str, ...]) -> None:
    """`images`: each image's phases and their durations (the run's timeline). In a real
    browser: a bar per image, each phase's width its duration at the page's one scale, no
    console error, no request but the file, and the critical-path switch working."""
    with loaded(path) as page:
        got = json.loads(page.evaluate(_BARS))
        scale = got["scale"]
        assert scale > 0
        drawn: dict[str, dict[str, float]] = {}
        for bar in got["bars"]:
            assert bar["h"] > 0, bar
            if bar["dur"] > 0:
                # x and width are written to 1/100 px: a bar is within 0.02 px of its time
                assert abs(bar["w"] - bar["dur"] * scale) < 0.05, (bar, scale)
                drawn.setdefault(bar["image"], {})[bar["phase"]] = bar["dur"]
            else:
                drawn.setdefault(bar["image"], {})
        assert set(drawn) == set(images)
        for name, phases in images.items():
            assert drawn[name] == pytest.approx(phases, abs=1e-5), name
        assert page.console_errors == []
        assert all(u.startswith("file:") for u in page.requests), page.requests
        assert page.requests
        dimmed = page.evaluate("document.getElementById('only-critical').click();"
                               "document.querySelectorAll('g.row.dim').length")
        assert dimmed == len(images) - len(critical)
        assert page.console_errors == []

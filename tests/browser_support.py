"""A real server and Debian's Chromium (driven by Playwright) for the browser tests.

Without /usr/bin/chromium (or playwright) the browser tests skip with a message — unless ``CI=true``,
where they fail.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("RAREECO_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "screenshots"
# Flags for a closed network and a root user (see the machine notes): no background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def need_browser() -> Any:
    """The playwright sync API, or skip (fail in CI) with how to enable the browser tests."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not shutil.which(CHROMIUM):
        msg = (f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium) and the playwright "
               "package (pip install -e '.[test]')")
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return sync_playwright


def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched by Playwright for a module of tests."""
    sync_playwright = need_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_TEMPLATE: dict[str, Path] = {}


def demo_template(env: dict[str, str]) -> Path:
    """A ledger loaded by ``rareeco demo``, once per test session (with its CEMS stacks replayed through the
    HJ 212 gateway it takes 20–40 s); each server starts from a copy of it."""
    if "db" not in _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="rareeco-demo-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "demo.db"
        done = subprocess.run([sys.executable, "-m", "rareeco.cli", "--db", f"sqlite:///{path}", "demo"],
                              capture_output=True, env=env, cwd=folder, timeout=600)
        if done.returncode:
            raise RuntimeError(f"rareeco demo failed: {done.stdout.decode()}{done.stderr.decode()}")
        _TEMPLATE["db"] = path
    return _TEMPLATE["db"]


def serve_demo(tmp: Path) -> Iterator[str]:
    """``rareeco demo --serve`` on a fresh copy of the demo ledger; yields the base URL; stops the server after."""
    port = free_port()
    env = {**os.environ, "RAREECO_USER": "browser-test"}
    template = demo_template(env)
    for suffix in ("", "-wal"):                      # the WAL too, should the loader have left one
        if Path(f"{template}{suffix}").exists():
            shutil.copyfile(f"{template}{suffix}", tmp / f"browser.db{suffix}")
    db = f"sqlite:///{tmp / 'browser.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "rareeco.cli", "--db", db, "demo", "--serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"server exited: {out}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("server did not start in 90 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def contrast_ratio(fg: str, bg: str = "#ffffff") -> float:
    """WCAG 2.x contrast ratio of two ``#rrggbb`` colours."""
    def lum(hex_colour: str) -> float:
        rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def new_page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser context (no cookies) that fails the test if anything loads from outside the server."""
    ctx = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900}, locale="en-GB")
    pg = ctx.new_page()
    outside: list[str] = []
    pg.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server) else None)
    yield pg
    ctx.close()
    assert outside == [], f"the page loaded from outside the server: {outside}"

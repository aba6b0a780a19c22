"""Server time and weight of each main page on the demo data.

    python benchmarks/pages_bench.py [--requests 40]

Starts ``rareeco demo --serve`` on a fresh SQLite file, signs in as the demo user, requests each page
N times and reads the server's own ``Server-Timing`` header (time spent in the application), then
reports median and p95 per page, the HTML size and the page weight (HTML + the scripts and styles it
references, uncompressed).  The anchor, measured in the same run, is ``/api/v1/health`` (the cost of
the web stack alone); each page is also given as a multiple of it.  Nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from browser_support import serve_demo  # noqa: E402

PAGES = ["/", "/?year=2024", "/import", "/inventory", "/inventory?year=2025&site=baotou", "/periods",
         "/reference", "/tokens"]


def server_ms(r: httpx.Response) -> float:
    m = re.search(r"dur=([\d.]+)", r.headers.get("server-timing", ""))
    return float(m.group(1)) if m else float("nan")


def weight(client: httpx.Client, html: str) -> int:
    total = len(html.encode())
    for ref in set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html)):
        total += len(client.get(ref).content)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=40)
    n = ap.parse_args().requests
    with tempfile.TemporaryDirectory() as tmp:
        gen = serve_demo(Path(tmp))
        base = next(gen)
        try:
            with httpx.Client(base_url=base, timeout=60) as c:
                r = c.post("/login", data={"username": "demo", "password": "demo-password"})
                assert r.status_code in (200, 303), r.text
                anchor = [server_ms(c.get("/api/v1/health")) for _ in range(n)]
                a_med = statistics.median(anchor)
                print(f"anchor /api/v1/health: median {a_med:.2f} ms over {n} requests\n")
                print(f"{'page':40} {'status':>6} {'median ms':>10} {'p95 ms':>8} {'× anchor':>9} {'HTML kB':>8} "
                      f"{'weight kB':>10}")
                for path in PAGES:
                    times = []
                    for _ in range(n):
                        r = c.get(path)
                        times.append(server_ms(r))
                    times.sort()
                    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
                    med = statistics.median(times)
                    print(f"{path:40} {r.status_code:>6} {med:>10.1f} {p95:>8.1f} {med / a_med:>9.0f} "
                          f"{len(r.content) / 1024:>8.1f} {weight(c, r.text) / 1024:>10.1f}")
        finally:
            gen.close()


if __name__ == "__main__":
    main()

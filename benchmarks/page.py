"""How big and how fast the search page is: ``python -m benchmarks page``.

For searches of 1,000 and 20,000 trials (a conditional space of 6 parameters, a tenth of the
trials with learning curves, every status present), made as ``TrialRecord``s the way a
search leaves them: the time to build and write the page, its size, and the time a real
headless Chromium takes to load it until every chart is drawn (and to answer a hover).

    python -m benchmarks page                 # 1,000 and 20,000 trials
    python -m benchmarks page --sizes 5000 --no-browser
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from hyperspark.page import search_data, versions, write
from hyperspark.record import TrialRecord, TrialStatus

STATUSES = [TrialStatus.OK] * 85 + [TrialStatus.PRUNED] * 8 + [
    TrialStatus.FAILED, TrialStatus.ERROR, TrialStatus.TIMED_OUT, TrialStatus.CANCELLED] * 2 \
    + [TrialStatus.RUNNING]


def synthetic_search(trials: int, parallelism: int = 32, seed: int = 0) -> tuple:
    """Records and resolved params of a search like a real one of ``trials`` trials."""
    rng = np.random.default_rng(seed)
    records, params = [], {k: [] for k in ("model", "lr", "l2", "depth", "width", "act")}
    free = np.zeros(parallelism)
    for tid in range(trials):
        slot = int(np.argmin(free))
        booked = float(free[slot])
        start = booked + float(rng.exponential(0.05))
        end = start + float(rng.exponential(1.0))
        free[slot] = end
        status = STATUSES[int(rng.integers(len(STATUSES)))]
        model = "tree" if rng.random() < 0.5 else "net"
        lr = float(np.exp(rng.uniform(-9, 0)))
        loss = float((np.log(lr) + 4) ** 2 / 10 + rng.normal(0, 0.1))
        reports = ()
        if rng.random() < 0.1 or status is TrialStatus.PRUNED:
            steps = int(rng.integers(3, 30)) if status is not TrialStatus.PRUNED else 3
            reports = tuple((s, loss + 1.0 / s, end, {}) for s in range(1, steps + 1))
        records.append(TrialRecord(
            tid=tid, status=status, loss=loss if status in (TrialStatus.OK,
                                                            TrialStatus.PRUNED) else None,
            attempts=1, waited=start - booked, booked=booked,
            start=start if status is not TrialStatus.RUNNING else start,
            end=end if status is not TrialStatus.RUNNING else None, recorded=end,
            error="ValueError: bad" if status is TrialStatus.ERROR else None,
            reports=reports, pruned_at=3 if status is TrialStatus.PRUNED else None))
        params["model"].append(model)
        params["lr"].append(lr)
        params["l2"].append(float(np.exp(rng.uniform(-12, -2))))
        params["depth"].append(float(rng.integers(1, 16)) if model == "tree" else None)
        params["width"].append(float(2 ** rng.integers(3, 10)) if model == "net" else None)
        params["act"].append(str(rng.choice(["relu", "tanh", "gelu"])) if model == "net"
                             else None)
    return records, params


def measure(trials: int, folder: str, browser: Optional[Any]) -> Dict[str, Any]:
    records, params = synthetic_search(trials)
    settings = {"parallelism": 32, "backend": "actors", "algo": "hyperspark.tpe",
                "max_evals": trials, **versions()}
    began = time.perf_counter()
    data = search_data(records, params, settings, f"benchmark search of {trials} trials")
    path = write(data, os.path.join(folder, f"search-{trials}.html"))
    written = time.perf_counter() - began
    row: Dict[str, Any] = {"trials": trials, "write_s": written,
                           "size_mb": os.path.getsize(path) / 1e6}
    if browser is not None:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: List[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        began = time.perf_counter()
        page.goto(f"file://{path}")
        page.wait_for_selector("body[data-ready=true]", timeout=300_000)
        row["load_s"] = time.perf_counter() - began
        point = page.locator("#chart-loss-trials .point").nth(10)
        box = point.bounding_box()
        began = time.perf_counter()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function(
            "document.getElementById('trial-panel').dataset.tid !== undefined")
        row["hover_s"] = time.perf_counter() - began
        row["errors"] = errors
        page.close()
    return row


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks page", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 20000])
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(list(argv or []))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if args.no_browser:
            rows = [measure(n, folder, None) for n in args.sizes]
        else:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=args.chromium,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run"])
                rows = [measure(n, folder, browser) for n in args.sizes]
                browser.close()
    print("| trials | write | size | browser load (every chart drawn) | hover answer |")
    print("|---|---|---|---|---|")
    for row in rows:
        load = f"{row['load_s']:.1f} s" if "load_s" in row else "-"
        hover = f"{1000 * row['hover_s']:.0f} ms" if "hover_s" in row else "-"
        print(f"| {row['trials']:,} | {row['write_s']:.2f} s | {row['size_mb']:.1f} MB | {load} "
              f"| {hover} |")
        if row.get("errors"):
            print(f"  page errors: {row['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

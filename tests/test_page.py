"""The search page, opened in a real headless Chromium (Debian's ``chromium``, driven by
Playwright): no console error, nothing fetched from the network, every chart drew as many
marks as there are trials (or says it sampled), and hovering a point shows its trial."""
import os
import time

import mlflow
import pytest
from hyperopt import hp
from mlflow.tracking import MlflowClient

import hyperspark
from hyperspark import SparkTrials
from hyperspark.page import from_checkpoint, search_data, write
from hyperspark.tracking.page_source import page_data
from hyperspark.record import TrialRecord, TrialStatus

CHROMIUM = "/usr/bin/chromium"
SPACE = {"kind": hp.choice("kind", [{"a": hp.uniform("a", 0, 1)},
                                    {"depth": hp.quniform("depth", 1, 9, 1)}]),
         "lr": hp.loguniform("lr", -7, 0), "act": hp.choice("act", ["relu", "tanh"])}


def objective(params):
    """Reports a learning curve; fails, returns status fail, or hangs for some points."""
    lr = params["lr"]
    if lr > 0.6:
        raise ValueError("lr too high")
    if lr < 0.0015:
        return {"status": "fail"}
    if lr < 0.002:
        time.sleep(30)  # stopped by trial_timeout
    loss = (lr - 0.1) ** 2 + params["kind"].get("a", 0.3)
    for step in range(1, 5):
        hyperspark.report(loss + 1.0 / step, step=step)
        time.sleep(0.005)
    return loss


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def open_page(browser, path):
    """The page loaded in a new tab: its console errors and any request that left the file."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = {"errors": [], "requests": []}
    page.on("console", lambda m: problems["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems["errors"].append(str(e)))
    page.on("request", lambda r: problems["requests"].append(r.url)
            if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(f"file://{path}")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    return page, problems


def marks(page, chart):
    return int(page.get_attribute(f"#{chart}", "data-marks"))


def points(page, chart):
    return page.eval_on_selector_all(f"#{chart} .point", "nodes => nodes.length")


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    trials = SparkTrials(backend="local", parallelism=4, trial_timeout=1.0,
                         mlflow_tracking=False, pruner=hyperspark.pruners.ASHA())
    points_first = [{"kind": 0, "a": 0.5, "lr": 0.7, "act": 0},      # raises
                    {"kind": 1, "depth": 3, "lr": 0.0011, "act": 1},  # returns status fail
                    {"kind": 0, "a": 0.2, "lr": 0.0018, "act": 0}]    # runs past trial_timeout
    trials.insert_points(SPACE, points_first)
    hyperspark.fmin(objective, SPACE, max_evals=40, trials=trials, show_progressbar=False,
                    trials_save_file=str(folder / "search.ckpt"))
    return trials, folder


def test_the_page_opens_offline_draws_every_trial_and_hover_shows_the_trial(browser, searched):
    trials, folder = searched
    path = trials.to_html(str(folder / "search.html"))
    page, problems = open_page(browser, path)
    assert problems == {"errors": [], "requests": []}  # no console error, nothing fetched
    assert "<script src" not in open(path).read()

    frame = trials.to_pandas()
    statuses = set(frame["status"])
    assert {"ok", "error", "failed", "timed_out"} <= statuses
    records = [TrialRecord.from_doc(d) for d in trials._dynamic_trials]
    with_loss = sum(r.loss is not None for r in records)  # ok, and pruned with a report
    ran = sum(r.duration is not None for r in records)
    # no chart sampled: each drew one mark per trial it can show
    assert page.locator(".note").count() == 0
    assert marks(page, "chart-loss-trials") == points(page, "chart-loss-trials") == with_loss
    assert marks(page, "chart-loss-time") == points(page, "chart-loss-time") == with_loss
    waits = page.evaluate("""() => { const d = window.hypersparkData.trials;
        return d.tid.filter((_, r) => d.start[r] !== null && d.end[r] !== null
            && d.booked[r] !== null && d.start[r] > d.booked[r]).length; }""")
    assert marks(page, "chart-timeline") == ran
    assert points(page, "chart-timeline") == ran + waits  # a bar per trial, and its wait
    for label in ["kind", "a", "lr", "act", "depth"]:
        chart = page.locator(f"[data-label='{label}']")
        active = sum(r.loss is not None and bool(r.vals.get(label)) for r in records)
        assert int(chart.get_attribute("data-marks")) == active, label
        assert page.locator(f"[data-label='{label}'] .point").count() == active, label
    assert marks(page, "chart-parallel") == with_loss
    curves = sum(bool(r.reports) for r in records)
    assert curves > 0 and marks(page, "chart-curves") == curves
    assert "η²" in page.inner_text("#section-importance")  # the method is named
    assert "hyperspark.tpe" in page.inner_text("#section-settings")

    # hover: move the mouse over a point of the first chart; the panel shows that trial
    point = page.locator("#chart-loss-trials .point").nth(3)
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("document.getElementById('trial-panel').dataset.tid !== undefined")
    tid = int(page.get_attribute("#trial-panel", "data-tid"))
    shown = page.inner_text("#trial-panel")
    params = frame.set_index("tid").loc[tid, "params"]
    assert f"trial\t{tid}" in shown or f"trial {tid}" in shown
    rows = dict(line.split("\t", 1) for line in shown.splitlines() if "\t" in line)
    for label, value in params.items():  # an option that holds a space shows as its index
        if isinstance(value, dict):
            assert rows[label].startswith("option"), (label, rows)
        elif isinstance(value, float):
            assert float(rows[label]) == pytest.approx(value, rel=1e-3, abs=1e-4), (label, rows)
        else:
            assert rows[label] == str(value), (label, rows)
    page.screenshot(path=str(folder / "page.png"), full_page=True)
    page.close()


def test_a_large_search_is_sampled_and_says_so(browser, tmp_path):
    rng = __import__("numpy").random.default_rng(0)
    n = 6000
    records = [TrialRecord(tid=t, status=TrialStatus.OK, loss=float(rng.random()), attempts=1,
                           booked=t * 0.01, start=t * 0.01 + 0.001, end=t * 0.01 + 0.02,
                           vals={"x": [float(rng.random())]}) for t in range(n)]
    data = search_data(records, {"x": [r.vals["x"][0] for r in records]}, {"parallelism": 2})
    page, problems = open_page(browser, write(data, str(tmp_path / "big.html")))
    assert problems == {"errors": [], "requests": []}
    notes = page.locator("#section-loss .note").inner_text()
    assert "5,000 of 6,000 trials drawn" in notes
    assert points(page, "chart-loss-trials") == 5000 == marks(page, "chart-loss-trials")
    assert marks(page, "chart-timeline") == 2000 and "2,000 of 6,000" in page.locator(
        "#section-timeline .note").inner_text()
    assert marks(page, "chart-parallel") == 800
    page.close()


def test_the_page_from_a_checkpoint_and_from_mlflow(browser, searched, tmp_path, mlflow_store,
                                                    monkeypatch):
    trials, folder = searched
    data = from_checkpoint(str(folder / "search.ckpt"))
    assert sorted(data["trials"]["tid"]) == sorted(d["tid"] for d in trials._dynamic_trials)
    assert set(data["params"]) == {"kind", "a", "lr", "act", "depth"}
    assert "relu" in data["params"]["act"] or "tanh" in data["params"]["act"]  # resolved

    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_experiment(f"page-{time.time_ns()}")
    tracked = SparkTrials(backend="local", parallelism=3, mlflow_tracking=True)
    hyperspark.fmin(objective, SPACE, max_evals=12, trials=tracked, show_progressbar=False)
    client = MlflowClient(mlflow_store)
    parent = tracked.last_tracker.parent_run_id
    logged = [a.path for a in client.list_artifacts(parent)]
    assert "search.html" in logged  # every tracked fmin logs its page
    data = page_data(parent, mlflow_store)
    assert sorted(data["trials"]["tid"]) == list(range(12))
    expected = {d["tid"]: d["result"].get("loss") for d in tracked._dynamic_trials}
    for tid, loss in zip(data["trials"]["tid"], data["trials"]["loss"]):
        if expected[tid] is not None and data["trials"]["status"][data["trials"]["tid"].index(
                tid)] == "ok":
            assert loss == pytest.approx(expected[tid])
    page, problems = open_page(browser, write(data, str(tmp_path / "from-mlflow.html")))
    assert problems == {"errors": [], "requests": []}
    assert marks(page, "chart-curves") > 0  # the reports came back from the metric history
    page.close()

    monkeypatch.setenv("HYPERSPARK_SEARCH_PAGE", "0")  # the switch
    quiet = SparkTrials(backend="local", parallelism=2, mlflow_tracking=True)
    hyperspark.fmin(lambda p: p["lr"], SPACE, max_evals=3, trials=quiet,
                    show_progressbar=False)
    assert [a.path for a in client.list_artifacts(quiet.last_tracker.parent_run_id)] == [
        "space.json"]


def test_hyperspark_html_command(searched, tmp_path, capsys):
    from hyperspark import cli

    trials, folder = searched
    out = tmp_path / "cli.html"
    assert cli.main(["html", "--checkpoint", str(folder / "search.ckpt"), "-o", str(out)]) == 0
    assert 300_000 < out.stat().st_size < 1_500_000  # plotly.js and the data, compressed
    assert "the search's page" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["html"])  # one source is required
    assert os.path.exists(out)


def thousand_trials():
    """A page's data for 1,000 trials: three parameters (a log-scaled one, a choice),
    learning curves for 300 of them, some failures."""
    rng = __import__("numpy").random.default_rng(1)
    records, columns = [], {"x": [], "act": [], "learning_rate": []}
    for t in range(1000):
        x, lr, act = float(rng.random()), float(10 ** rng.uniform(-4, 0)), int(t % 3)
        ok = t % 13 != 0
        records.append(TrialRecord(
            tid=t, status=TrialStatus.OK if ok else TrialStatus.ERROR,
            loss=(x - 0.3) ** 2 + lr if ok else None, attempts=1, booked=t * 0.05,
            start=t * 0.05 + 0.01, end=t * 0.05 + 0.2, error=None if ok else "ValueError",
            vals={"x": [x], "act": [act], "learning_rate": [lr]},
            reports=tuple((s, 1 / s + x, t * 0.05, {}) for s in range(1, 6)) if t < 300
            else ()))
        for label, value in (("x", x), ("act", ["relu", "tanh", "gelu"][act]),
                             ("learning_rate", lr)):
            columns[label].append(value)
    return search_data(records, columns, {"parallelism": 8}, "hyperspark search abc123def456")


def boxes_overlap(a, b):
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_a_thousand_trial_page_is_small_and_every_title_and_axis_reads(browser, tmp_path):
    path = write(thousand_trials(), str(tmp_path / "thousand.html"))
    assert os.path.getsize(path) < 1_500_000  # the bound; it was 4.9 MB
    page, problems = open_page(browser, path)
    assert problems == {"errors": [], "requests": []}
    assert page.title() == "hyperspark search abc123def456"
    for label in ("x", "act", "learning_rate"):
        chart = page.locator(f"[data-label='{label}']")
        caption = chart.locator("xpath=preceding-sibling::div[@class='chart-title']")
        assert caption.inner_text() == label
        chart.hover()  # the toolbar shows on hover: it must not cover the title
        page.wait_for_timeout(300)
        toolbar = chart.locator(".modebar")
        if toolbar.count() and toolbar.first.is_visible():
            assert not boxes_overlap(caption.bounding_box(), toolbar.first.bounding_box())
        assert chart.locator(".xtick text").count() > 0, label  # the axes show values
        assert chart.locator(".ytick text").count() > 0, label
    # parallel coordinates: every axis is labelled with values (its low, middle and high,
    # or its options)
    texts = page.eval_on_selector_all("#chart-parallel .annotation-text",
                                      "nodes => nodes.map(n => n.textContent)")
    assert {"relu", "tanh", "gelu"} <= set(texts)
    numbers = [t for t in texts if t not in ("relu", "tanh", "gelu")]
    assert len(numbers) == 3 * 3  # x, learning_rate and loss: low, middle, high
    assert any(t.startswith("1.") or t.startswith("0.9") for t in numbers)  # x's top
    page.close()


def test_hyperspark_html_errors_are_one_line_and_exit_non_zero(tmp_path, capsys, mlflow_store):
    from hyperspark import cli

    cases = [(["--run-id", "no-such-run", "--tracking-uri", mlflow_store],
              "no run 'no-such-run' in the MLflow store"),
             (["--checkpoint", str(tmp_path / "missing.ckpt")], "no checkpoint file"),
             (["--run-id", "x", "--tracking-uri", "nosuchscheme://somewhere"],
              "hyperspark html: error: ")]
    (tmp_path / "bad.ckpt").write_text("not a pickle")
    cases.append((["--checkpoint", str(tmp_path / "bad.ckpt")], "cannot read the checkpoint"))
    for arguments, expected in cases:
        assert cli.main(["html", *arguments, "-o", str(tmp_path / "x.html")]) == 1
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hyperspark html: error: "), lines
        assert expected in lines[0]
        assert "Traceback" not in captured.err and captured.out == ""


def continued_search(earlier: int, total: int):
    """A page's data for a search continued from MLflow: ``earlier`` trials of the first
    search, then ``total - earlier`` new ones."""
    records, xs = [], []
    for t in range(total):
        x = ((t * 37) % 11) / 11
        records.append(TrialRecord(tid=t, status=TrialStatus.OK, loss=(x - 0.3) ** 2,
                                   attempts=1, booked=t, start=t + 0.1, end=t + 0.5,
                                   vals={"x": [x]}, continued=t < earlier))
        xs.append(x)
    return search_data(records, {"x": xs}, {"continued from": "abc"}, "continued")


@pytest.mark.parametrize("earlier,total", [(2, 3), (1, 2), (40, 50)])
def test_a_continued_page_counts_trials_in_whole_numbers_and_labels_beside_the_line(
        browser, tmp_path, earlier, total):
    path = write(continued_search(earlier, total), str(tmp_path / "continued.html"))
    page, problems = open_page(browser, path)
    assert problems == {"errors": [], "requests": []}
    chart = "#chart-loss-trials"
    ticks = page.eval_on_selector_all(f"{chart} .xtick text", "n => n.map(x => x.textContent)")
    assert ticks and all(tick.replace(",", "").isdigit() for tick in ticks), ticks
    label = page.locator(f"{chart} .annotation", has_text="continued here")
    line = page.locator(f"{chart} .shapelayer path").first
    assert label.count() == 1 and line.count() == 1
    label_box, line_box = label.bounding_box(), line.bounding_box()
    assert not boxes_overlap(label_box, line_box), (label_box, line_box)
    assert label_box["x"] >= line_box["x"] + line_box["width"]  # to the line's right
    page.close()


def several_losses(params):
    """ZDT1's two losses with a memory limit (infeasible above y = 0.7); a third loss when
    the space asks for it."""
    x, y = params["x"], params["y"]
    losses = {"error": x, "size": (1 + y) * (1 - (x / (1 + y)) ** 0.5)}
    if params.get("third"):
        losses["latency"] = (x - 0.5) ** 2 + y
    return {"status": "ok", "losses": losses, "constraints": {"memory": y - 0.7}}


def front_search(third: bool, tracked: bool = False):
    space = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1),
             "third": hp.choice("third", [third])}
    trials = SparkTrials(backend="local", parallelism=4, mlflow_tracking=tracked)
    hyperspark.fmin(several_losses, space, max_evals=60, trials=trials,
                    show_progressbar=False, rstate=__import__("numpy").random.default_rng(3))
    return trials


def traces_of(page):
    """Each trace of the objectives chart: its name and the rows (trial ids) it draws."""
    return page.evaluate("""() => document.getElementById('chart-objectives').data.map(t =>
        ({name: t.name, tids: t.text.filter(x => x !== null)}))""")


@pytest.mark.parametrize("third", [False, True], ids=["two losses", "three losses"])
def test_the_page_draws_the_front_marks_infeasible_trials_and_lists_the_front(
        browser, tmp_path, third):
    trials = front_search(third)
    front = [doc["tid"] for doc in trials.pareto_front()]
    docs = [d for d in trials._dynamic_trials if d["result"].get("status") == "ok"]
    infeasible = {d["tid"] for d in docs if d["result"]["constraints"]["memory"] > 0}
    assert front and infeasible and not set(front) & infeasible
    page, problems = open_page(browser, trials.to_html(str(tmp_path / "front.html")))
    assert problems == {"errors": [], "requests": []}
    assert marks(page, "chart-objectives") == len(docs)  # every finished trial, once

    traces = {t["name"]: t["tids"] for t in traces_of(page)}
    assert sorted(set(traces["Pareto front"])) == sorted(front)  # a line: a tid per axis
    assert set(traces["infeasible"]) == infeasible
    assert set(traces["feasible"]) == {d["tid"] for d in docs} - infeasible - set(front)
    # the table: the front, by the first loss, as SparkTrials.pareto_front() orders it
    rows = page.eval_on_selector_all("#front-table tbody tr",
                                     "rows => rows.map(r => Number(r.dataset.tid))")
    assert rows == front
    header = page.inner_text("header")
    assert f"{len(front)} trials on the Pareto front" in header and "hypervolume" in header
    if not third:  # two losses: the front's points carry their trial ids as labels
        labels = page.eval_on_selector_all("#chart-objectives .textpoint text",
                                           "n => n.map(x => Number(x.textContent))")
        assert sorted(labels) == sorted(front)
    # hovering a row of the table shows that trial, with its losses and constraint
    page.hover(f"#front-table tbody tr[data-tid='{front[0]}']")
    page.wait_for_function(f"document.getElementById('trial-panel').dataset.tid === "
                           f"'{front[0]}'")
    shown = page.inner_text("#trial-panel")
    assert "on the front" in shown and "loss error" in shown and "constraint memory" in shown
    page.close()


def test_one_loss_with_constraints_shows_the_best_feasible_trial(browser, tmp_path):
    def constrained(params):
        return {"status": "ok", "loss": params["x"], "constraints": {"floor": 0.3 - params["x"]}}

    trials = SparkTrials(backend="local", parallelism=2, mlflow_tracking=False)
    hyperspark.fmin(constrained, {"x": hp.uniform("x", 0, 1)}, max_evals=25, trials=trials,
                    show_progressbar=False, rstate=__import__("numpy").random.default_rng(0))
    best = min((d for d in trials._dynamic_trials if d["result"]["loss"] >= 0.3),
               key=lambda d: d["result"]["loss"])
    assert [d["tid"] for d in trials.pareto_front()] == [best["tid"]]
    page, problems = open_page(browser, trials.to_html(str(tmp_path / "constrained.html")))
    assert problems == {"errors": [], "requests": []}
    assert f"best feasible: trial {best['tid']}" in page.inner_text("header")
    assert page.eval_on_selector_all("#front-table tbody tr",
                                     "r => r.map(x => Number(x.dataset.tid))") == [best["tid"]]
    assert marks(page, "chart-objectives") == 25
    page.close()


def test_the_front_on_a_page_read_back_from_mlflow(browser, tmp_path, mlflow_store):
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_experiment(f"front-page-{time.time_ns()}")
    trials = front_search(False, tracked=True)
    data = page_data(trials.last_tracker.parent_run_id, mlflow_store)
    objectives = data["objectives"]
    assert objectives["losses"] == ["error", "size"] and objectives["constraints"] == ["memory"]
    tids = data["trials"]["tid"]
    assert [tids[row] for row in objectives["front"]] == [
        d["tid"] for d in trials.pareto_front()]
    page, problems = open_page(browser, write(data, str(tmp_path / "front-mlflow.html")))
    assert problems == {"errors": [], "requests": []}
    assert marks(page, "chart-objectives") == 60
    page.close()

"""One self-contained HTML file for a search: plotly.js, the page's own script and style, and
the search's data, all inlined; nothing is fetched when it opens.

Why plotly: interactive charts (hover, zoom, pan), and the charting library Optuna's
visualisations use, so many readers know its controls. Every chart here is drawn with plain
SVG traces (no WebGL), so the page opens in any browser, headless ones included.

Why it is small: the page carries plotly.js's cartesian bundle (the 2-D traces the page draws,
1.5 MB instead of 4.8 MB for all of plotly.js) and the search's data gzip-compressed, in base64;
``assets/boot.js`` unpacks both in the browser with the standard ``DecompressionStream``. A
page of 1,000 trials weighs about 0.8 MB, and still works offline.
"""
from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import os
from typing import Any, Dict

ASSETS = os.path.join(os.path.dirname(__file__), "assets")


def _asset(name: str) -> str:
    with open(os.path.join(ASSETS, name), encoding="utf-8") as handle:
        return handle.read()


PLOTLY = "plotly-cartesian.min.js.gz"
"""plotly.js's cartesian bundle, gzip-compressed (see ``assets/__init__.py``)."""


@functools.lru_cache(maxsize=1)
def _plotly_base64() -> str:
    with open(os.path.join(ASSETS, PLOTLY), "rb") as handle:
        return base64.b64encode(handle.read()).decode("ascii")


def _packed_json(value: Any) -> str:
    """``value`` as JSON, gzip-compressed and base64-encoded (safe inside a <script>)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9,
                                          mtime=0)).decode("ascii")


def render(data: Dict[str, Any]) -> str:
    """The page of ``data`` (``page.data.search_data``), as one HTML string."""
    escape = html.escape
    settings_rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
                            for k, v in data["settings"].items())
    counts = "".join(f"<span><b>{n}</b> {escape(status)}</span>"
                     for status, n in data["counts"].items() if n)
    best = data["best"]
    objectives = data.get("objectives")
    best_html = "no trial succeeded"
    if best is not None:
        params = ", ".join(f"{escape(str(k))}={escape(str(v))}" for k, v in best["params"].items())
        best_html = f"trial {best['tid']}: loss <b>{best['loss']:.6g}</b> at {params}"
    best_label = "best feasible" if objectives and objectives["constraints"] else "best"
    if objectives and len(objectives["losses"]) > 1:
        best_label, best_html = "front", front_summary(objectives)
    utilisation = data.get("utilisation")
    utilisation_html = (f"utilisation <b>{utilisation:.0%}</b> (busy slot time / "
                        f"(parallelism × wall time {data['wall_s']:.1f} s))"
                        if utilisation is not None else "")
    notes = data["notes"]
    continuation = data.get("continuation")
    continued_html = (f'<div class="continued">continues the search of MLflow run '
                      f'<b>{escape(str(continuation["from_run"]))}</b>: its '
                      f'{continuation["trials"]} trials come first (tids below '
                      f'{continuation["first_new_tid"]}); the timeline shows this run\'s '
                      f'trials only</div>' if continuation else "")

    def note(chart: str) -> str:
        return f'<p class="note">{escape(notes[chart])}</p>' if chart in notes else ""

    curves_note = (f'<p class="note">{escape(data["curves"]["note"])}</p>'
                   if data["curves"]["note"] else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(data["title"])}</title>
<style>{_asset("page.css")}</style>
</head><body>
<header><h1>{escape(data["title"])}</h1>
<div class="counts">{counts}</div>
<div>{best_label}: {best_html}</div>{continued_html}</header>
<main><div>{objectives_section(data)}
<section id="section-loss"><h2>Loss of every trial, and the best so far</h2>{note("scatter")}
<div class="two"><div id="chart-loss-trials" class="chart"></div>
<div id="chart-loss-time" class="chart"></div></div></section>
<section id="section-timeline"><h2>The slots over time</h2>
<p class="explain">Each trial is a bar on the slot it held, from the moment its objective
started to its end, coloured by status; grey is the time it waited for a worker first.
{utilisation_html}</p>{note("timeline")}
<div id="chart-timeline" class="chart"></div><div id="chart-busy"></div></section>
<section id="section-params"><h2>Each parameter against the loss</h2>{note("scatter")}
<div id="chart-params" class="grid"></div></section>
<section id="section-parallel"><h2>Parallel coordinates, coloured by loss</h2>{note("lines")}
<div id="chart-parallel"></div></section>
<section id="section-importance"><h2>Parameter importance</h2>
<p class="explain">Method: the correlation ratio η² of the loss against each parameter alone
(quantile bins for numbers, options for choices), over the trials where it is active and the
loss is finite: the share of the loss's variance that the parameter explains by itself.
Interactions are not counted.</p>
<div id="chart-importance"></div></section>
<section id="section-curves"><h2>Learning curves of the intermediate reports</h2>{curves_note}
<div id="chart-curves" class="chart"></div></section>
<section id="section-settings"><h2>Settings and versions</h2>
<table class="facts">{settings_rows}</table></section>
</div>
<aside><section><h2>Trial</h2><div id="trial-panel">Hover a point or a bar to see its
trial.</div></section></aside></main>
<script id="plotly-gz" type="application/octet-stream">{_plotly_base64()}</script>
<script id="search-data-gz" type="application/octet-stream">{_packed_json(data)}</script>
<script>{_asset("page.js")}</script>
<script>{_asset("boot.js")}</script>
</body></html>
"""


def front_summary(objectives: Dict[str, Any]) -> str:
    """The header's line for a search of several losses: the front's size and hypervolume."""
    size = len(objectives["front"])
    if not objectives["feasible"]:
        return (f"no trial is feasible; the <b>{size}</b> of the smallest total violation "
                "stand in for the front")
    text = f"<b>{size}</b> trial{'s' if size != 1 else ''} on the Pareto front"
    if objectives["hypervolume"] is not None:
        reference = ", ".join(f"{v:.4g}" for v in objectives["reference"])
        text += (f", hypervolume <b>{objectives['hypervolume']:.6g}</b> (from the reference "
                 f"point ({reference}))")
    return text


def objectives_section(data: Dict[str, Any]) -> str:
    """The section of a search with several losses or constraints: its chart, and its front
    as a table (empty for a search of one loss)."""
    objectives = data.get("objectives")
    if not objectives:
        return ""
    escape = html.escape
    losses, constraints = objectives["losses"], objectives["constraints"]
    if len(losses) == 2:
        chart = ("Each finished trial at its two losses; the front is the staircase of the "
                 "trials that no other feasible trial beats on both")
    elif len(losses) > 2:
        chart = ("Parallel coordinates of the losses, one line per finished trial, each loss "
                 "scaled to its own range; the front's lines are drawn in red")
    else:
        chart = ("Each finished trial at its loss and its total violation (the sum of its "
                 "positive constraint values); the trials at 0 are feasible")
    if constraints:
        chart += ("; infeasible trials are dotted grey lines" if len(losses) > 2
                  else "; infeasible trials are grey crosses")
    chart += ". Hover a mark to see its trial."
    fmt = lambda value: "–" if value is None else f"{value:.6g}"  # noqa: E731
    head = "".join(f"<th>{escape(name)}</th>" for name in
                   ["trial", *losses, *[f"constraint {c}" for c in constraints], "parameters"])
    rows = []
    for row in objectives["front"]:
        params = ", ".join(f"{escape(str(label))}={escape(_short(values[row]))}"
                           for label, values in data["params"].items() if values[row] is not None)
        cells = [str(data["trials"]["tid"][row]),
                 *[fmt(objectives["values"][n][row]) for n in losses],
                 *[fmt(objectives["constraint_values"][c][row]) for c in constraints]]
        rows.append(f'<tr data-tid="{data["trials"]["tid"][row]}">'
                    + "".join(f"<td>{cell}</td>" for cell in cells)
                    + f'<td class="params">{params}</td></tr>')
    title = ("The Pareto front" if len(losses) > 1 else "The best feasible trial")
    caption = ("" if objectives["feasible"] else
               '<p class="note">No trial is feasible: the table lists those of the smallest '
               "total violation.</p>")
    return f"""
<section id="section-objectives"><h2>{title}: {len(objectives["front"])} of
{sum(v is not None for v in objectives["values"][losses[0]])} finished trials</h2>
<p class="explain">{escape(chart)}</p>
<div id="chart-objectives" class="chart"></div>{caption}
<table class="front" id="front-table"><thead><tr>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></section>"""


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)

"""The data of a search's page: ``TrialRecord``s -> the arrays its charts draw.

Every trial is in the table that the hover panel reads (tid, status, loss, params, attempts,
duration, waited). A chart that would draw more marks than a person can tell apart draws a
sample instead, and says so on the page (``notes``): the best trials always, and an even
spread of the others, chosen the same way for the same search.

>>> from hyperspark.record import TrialRecord, TrialStatus
>>> records = [TrialRecord(tid=t, status=TrialStatus.OK, loss=float(t), start=10.0 + t,
...                        end=11.0 + t, booked=10.0 + t, vals={"x": [t / 10]})
...            for t in range(3)]
>>> data = search_data(records, {"x": [0.0, 0.1, 0.2]}, {"parallelism": 1})
>>> data["trials"]["loss"], data["best"]["tid"]
([0.0, 1.0, 2.0], 0)
"""
from __future__ import annotations

import dataclasses

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from hyperspark.page.objectives import objectives_section
from hyperspark.record import TrialRecord, TrialStatus

MARKS = {"scatter": 5000, "timeline": 2000, "lines": 800, "curves": 300}
"""Most marks a chart draws: points of a scatter, bars of the timeline, lines of the parallel
coordinates, learning curves."""


def search_data(records: Sequence[TrialRecord], params: Dict[str, List[Any]],
                settings: Dict[str, Any], title: str = "hyperspark search") -> Dict[str, Any]:
    """Everything the page shows, as JSON-ready values.

    ``params``: each label's value per record (resolved: an ``hp.choice``'s option, not its
    index; None where inactive), in the records' order. ``settings``: what the search was
    run with (parallelism, backend, algo, max_evals, timeouts, pruner, versions).
    """
    records = sorted(records, key=lambda r: r.tid)
    earlier = [r for r in records if r.continued]  # ran in the search this one continues:
    records = [dataclasses.replace(r, booked=None, start=None, end=None, recorded=None)
               if r.continued else r for r in records]  # on the loss charts, not the timeline
    origin = min((r.booked or r.start for r in records if (r.booked or r.start)), default=0.0)
    finished = [i for i, r in enumerate(records) if r.status.finished]
    trials = {
        "tid": [r.tid for r in records],
        "status": [r.status.value for r in records],
        "loss": [_number(r.loss) for r in records],
        "attempts": [r.attempts for r in records],
        "waited": [round(r.waited, 4) for r in records],
        "booked": [_since(r.booked, origin) for r in records],
        "start": [_since(r.start, origin) for r in records],
        "end": [_since(r.end or r.recorded, origin) for r in records],
        "error": [(r.error or "")[:300] if r.status.value not in ("ok", "pruned") else ""
                  for r in records],
    }
    if any(r.size for r in records):  # sized by its parameters: tasks, CPUs, GPUs per task
        trials["size"] = [_size_text(r.size) for r in records]
    if any(r.suggested_by for r in records):  # hyperspark.auto says which algorithm made each
        trials["suggested_by"] = [r.suggested_by or "" for r in records]
    trials["slot"] = slots(trials["booked"], trials["start"], trials["end"])
    columns = {label: [_plain(v) for v in values] for label, values in params.items()}
    kinds = {label: ("numeric" if all(v is None or isinstance(v, (int, float))
                                      for v in values) else "categorical")
             for label, values in columns.items()}
    losses = np.array([np.nan if v is None else v for v in trials["loss"]], dtype=float)
    objectives = objectives_section(records)
    data: Dict[str, Any] = {
        "title": title, "settings": settings, "trials": trials,
        "params": columns, "kinds": kinds, "objectives": objectives,
        "counts": _counts(records), "best": _best(records, losses, columns, objectives),
        "wall_s": max((e for e in trials["end"] if e is not None), default=0.0),
    }
    busy = sum((r.end - r.start) for r in records if r.start and r.end)
    try:
        parallelism = int(float(settings.get("parallelism") or 0))
    except (TypeError, ValueError):
        parallelism = 0
    parallelism = parallelism or 1 + max((s for s in trials["slot"] if s is not None), default=0)
    data["utilisation"] = (busy / (parallelism * data["wall_s"])) if data["wall_s"] else None
    data["busy"] = busy_curve(trials["start"], trials["end"])
    data["samples"], data["notes"] = _samples(records, losses, finished)
    data["importance"] = importance(losses, columns, kinds)
    data["curves"] = _curves(records, losses)
    data["continuation"] = ({"trials": len(earlier), "first_new_tid": max(
        r.tid for r in earlier) + 1, "from_run": settings.get("continued from")}
        if earlier else None)
    return data


# ---------------------------------------------------------------- pieces
def slots(booked: List[Optional[float]], start: List[Optional[float]],
          end: List[Optional[float]]) -> List[Optional[int]]:
    """A slot for each trial, as the loop filled them: in order of booking, the lowest slot
    free at that moment (a trial holds its slot from booking, waiting included, to its end).

    >>> slots([0, 0, 1], [0, 0, 2], [2, 1, 3])
    [0, 1, 1]
    """
    order = sorted((b if b is not None else s, i) for i, (b, s) in enumerate(zip(booked, start))
                   if (b if b is not None else s) is not None)
    free_at: List[float] = []
    out: List[Optional[int]] = [None] * len(booked)
    for begin, i in order:
        finish = end[i] if end[i] is not None else begin
        slot = next((k for k, until in enumerate(free_at) if until <= begin + 1e-9), None)
        if slot is None:
            slot = len(free_at)
            free_at.append(finish)
        else:
            free_at[slot] = finish
        out[i] = slot
    return out


def busy_curve(start: List[Optional[float]], end: List[Optional[float]],
               points: int = MARKS["timeline"]) -> Dict[str, List[float]]:
    """How many trials ran at each moment (a step curve over every trial), at most
    ``points`` steps."""
    events = sorted([(s, 1) for s, e in zip(start, end) if s is not None and e is not None]
                    + [(e, -1) for s, e in zip(start, end) if s is not None and e is not None])
    times, running, level = [], [], 0
    for at, change in events:
        level += change
        times.append(round(at, 4))
        running.append(level)
    if len(times) > points:
        keep = np.linspace(0, len(times) - 1, points).astype(int)
        times, running = [times[i] for i in keep], [running[i] for i in keep]
    return {"time": times, "running": running}


def importance(losses: np.ndarray, params: Dict[str, List[Any]],
               kinds: Dict[str, str], bins: int = 10) -> List[Dict[str, Any]]:
    """Each parameter's share of the loss variance that it explains alone: the correlation
    ratio eta squared of the loss against the parameter, over quantile bins (numeric) or its
    options (categorical), over the trials with a finite loss where it is active."""
    out = []
    finite = np.isfinite(losses)
    for label, values in params.items():
        mask = finite & np.array([v is not None for v in values])
        if mask.sum() < 3:
            continue
        y = losses[mask]
        if kinds[label] == "numeric":
            x = np.array([values[i] for i in np.flatnonzero(mask)], dtype=float)
            edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
            groups = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 1)
        else:
            x = [str(values[i]) for i in np.flatnonzero(mask)]
            _, groups = np.unique(x, return_inverse=True)
        total = float(((y - y.mean()) ** 2).sum())
        between = sum(float((groups == g).sum()) * (float(y[groups == g].mean()) - y.mean()) ** 2
                      for g in np.unique(groups))
        out.append({"label": label, "score": between / total if total > 0 else 0.0,
                    "trials": int(mask.sum())})
    return sorted(out, key=lambda row: -row["score"])


def _samples(records: Sequence[TrialRecord], losses: np.ndarray,
             finished: List[int]) -> tuple:
    samples, notes = {}, {}
    for chart, budget in MARKS.items():
        if chart == "curves":
            continue
        chosen = _pick(losses, finished, budget)
        samples[chart] = chosen
        if len(chosen) < len(finished):
            notes[chart] = (f"{len(chosen):,} of {len(finished):,} trials drawn: the best "
                            f"{min(len(chosen) // 5, len(finished)):,} and an even spread of "
                            "the others (the hover panel covers every trial)")
    return samples, notes


def _pick(losses: np.ndarray, candidates: List[int], budget: int) -> List[int]:
    """``candidates`` if they fit the budget, else the best fifth of it and an even spread."""
    if len(candidates) <= budget:
        return list(candidates)
    ranked = sorted(candidates, key=lambda i: (not np.isfinite(losses[i]), losses[i]))
    best = ranked[:budget // 5]
    rest = sorted(set(candidates) - set(best))
    spread = [rest[int(k)] for k in np.linspace(0, len(rest) - 1, budget - len(best))]
    return sorted(set(best) | set(spread))


def _curves(records: Sequence[TrialRecord], losses: np.ndarray) -> Dict[str, Any]:
    reported = [i for i, r in enumerate(records) if r.reports]
    chosen = _pick(losses, reported, MARKS["curves"])
    curves = [{"row": i, "steps": [row[0] for row in records[i].reports],
               "loss": [_number(row[1]) for row in records[i].reports],
               "pruned_at": records[i].pruned_at if records[i].pruned else None}
              for i in chosen]
    note = (f"{len(chosen):,} of {len(reported):,} learning curves drawn: the best and an "
            "even spread of the others" if len(chosen) < len(reported) else None)
    return {"lines": curves, "note": note, "trials": len(reported)}


def _counts(records: Sequence[TrialRecord]) -> Dict[str, int]:
    counts = {status.value: 0 for status in TrialStatus}
    for record in records:
        counts[record.status.value] += 1
    return counts


def _best(records: Sequence[TrialRecord], losses: np.ndarray, params: Dict[str, List[Any]],
          objectives: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """The trial of the lowest loss; with constraints, of the feasible trials."""
    ok = [i for i, r in enumerate(records) if r.status is TrialStatus.OK and
          np.isfinite(losses[i])]
    if objectives is not None and objectives["constraints"]:
        ok = [i for i in ok if objectives["violation"][i] is not None
              and objectives["violation"][i] <= 0]
    if not ok:
        return None
    i = min(ok, key=lambda k: losses[k])
    return {"tid": records[i].tid, "loss": float(losses[i]),
            "params": {label: values[i] for label, values in params.items()
                       if values[i] is not None}}


def _since(at: Optional[float], origin: float) -> Optional[float]:
    return None if at is None else round(at - origin, 4)


def _number(value: Any) -> Optional[float]:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """A JSON value: numbers stay numbers (numpy ones too), anything else becomes text."""
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, bool) else str(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _number(value) if isinstance(value, (float, np.floating)) else int(value)
    return str(value)


def _size_text(size: Optional[Dict[str, Any]]) -> str:
    """A trial's size as the page shows it: ``4 tasks x 2 CPUs, 1 GPU``."""
    if not size:
        return ""
    text = (f"{size['tasks']} task{'s' if size['tasks'] != 1 else ''} x {size['cpus']} "
            f"CPU{'s' if size['cpus'] != 1 else ''}")
    gpus = size.get("gpus") or 0
    return text + (f", {gpus:g} GPU{'s' if gpus != 1 else ''}" if gpus else "")

"""A search you can look at: one self-contained HTML page per search.

Built from ``TrialRecord``s, so it is the same on every backend and for finished, stopped and
resumed searches. Three ways in:

- ``SparkTrials.to_html(path)``, during or after a search (``from_trials``);
- ``hyperspark html --checkpoint FILE`` (``from_checkpoint``);
- ``hyperspark html --run-id RUN``, from the tracking store (``tracking.page_source``
  fetches the records and hands them to ``search_data``); and every tracked ``fmin`` logs
  its page to its parent run as ``search.html``.

The page reads records, never a tracking store: whoever has a run id fetches them.

    from hyperspark.page import from_trials, write
    write(from_trials(trials), "search.html")
"""
from __future__ import annotations

import logging
import os
import pickle
import platform
from typing import Any, Dict, List, Optional

from hyperspark.errors import InvalidArgument
from hyperspark.hyperopt_internals import all_docs
from hyperspark.page.data import search_data
from hyperspark.page.render import render
from hyperspark.params import ParamResolver
from hyperspark.record import TrialRecord

logger = logging.getLogger("hyperspark")

__all__ = ["from_trials", "from_checkpoint", "write", "versions",
           "search_data", "render"]


def versions() -> Dict[str, str]:
    """The versions a page (and a tracked search) reports."""
    found = {"python": platform.python_version()}
    for name in ("hyperspark", "hyperopt", "pyspark", "mlflow", "numpy"):
        try:
            module = __import__(name)
            found[name] = str(getattr(module, "__version__", "?"))
        except Exception:
            found[name] = "not installed"
    return found


def write(data: Dict[str, Any], path: str) -> str:
    """Write the page of ``data`` to ``path`` (atomically); returns the absolute path."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise InvalidArgument(f"path={path!r}: folder {folder!r} does not exist")
    text = render(data)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def _resolved(records: List[TrialRecord], space: Any) -> Dict[str, List[Any]]:
    """Each label's value per record: resolved through ``space`` (an ``hp.choice``'s option)
    when it is known, else as stored."""
    resolver = ParamResolver(space) if space is not None else None
    labels: Dict[str, None] = {}
    rows = []
    for record in records:
        stored = {k: v[0] for k, v in record.vals.items() if v}
        values = resolver.resolve(record.vals) if resolver is not None else dict(stored)
        for label, value in values.items():  # an option that is itself a space (a dict of
            if isinstance(value, (dict, list, tuple)):  # parameters) shows as its index
                values[label] = f"option {stored.get(label)}"
        rows.append(values)
        labels.update(dict.fromkeys(values))
    return {label: [row.get(label) for row in rows] for label in labels}


def from_trials(trials: Any, title: Optional[str] = None) -> Dict[str, Any]:
    """The page data of a trials object (``SparkTrials``, or a plain hyperopt ``Trials``)."""
    records = sorted((TrialRecord.from_doc(doc) for doc in all_docs(trials)),
                     key=lambda r: r.tid)
    settings = dict(getattr(trials, "last_settings", None) or {})
    settings.update(versions())
    return search_data(records, _resolved(records, getattr(trials, "_space", None)), settings,
                       title or f"hyperspark search {getattr(trials, 'last_search_id', '')}")


def from_checkpoint(path: str) -> Dict[str, Any]:
    """The page data of a checkpoint file (``trials_save_file``)."""
    from hyperspark.checkpoint import read_state

    state = read_state(path)
    records = sorted((TrialRecord.from_doc(doc) for doc in state["trials"]),
                     key=lambda r: r.tid)
    space = None
    if state.get("space_pickle"):
        try:
            space = pickle.loads(state["space_pickle"])
        except Exception as exc:  # a space whose code is not importable here
            logger.warning("the checkpoint's space cannot be read here (%s): parameters are "
                           "shown as stored (an hp.choice as its index)", exc)
    settings = dict(state.get("settings") or {})
    settings.update({"checkpoint": os.path.abspath(path)}, **versions())
    return search_data(records, _resolved(records, space), settings,
                       f"hyperspark search (checkpoint {os.path.basename(path)})")

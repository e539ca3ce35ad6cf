"""How a search's place in MLflow is shown to a person: the UI link that lands on its runs,
and its experiment by name.

MLflow 3's UI opens an experiment (``#/experiments/<id>``) on its GenAI overview of traces,
where runs do not show. ``#/experiments/<id>/runs`` opens the runs table, and its
``searchFilter`` query (the same filter syntax as the search box) keeps one search's runs.

>>> runs_link("http://127.0.0.1:5000/", "1", "a1b2c3")
'http://127.0.0.1:5000/#/experiments/1/runs?searchFilter=tags.%60hyperspark.search_id%60%20%3D%20%27a1b2c3%27'
"""
from __future__ import annotations

import urllib.parse
from typing import Any, Optional

SEARCH_ID_TAG = "hyperspark.search_id"
"""The tag naming the search on its parent and child runs: the id of the log lines and the
page's title (``fmin_uuid`` has it too, for hyperopt's queries)."""


def search_filter(search_id: str) -> str:
    """The runs filter that keeps one search's runs (its parent and its trials)."""
    return f"tags.`{SEARCH_ID_TAG}` = '{search_id}'"


def runs_link(base_url: str, experiment_id: str, search_id: Optional[str] = None) -> str:
    """The UI address of an experiment's runs table, filtered to ``search_id`` when given."""
    link = f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs"
    if search_id:
        link += "?searchFilter=" + urllib.parse.quote(search_filter(search_id), safe="")
    return link


def server_url(tracking_uri: str) -> Optional[str]:
    """The UI's base address when the tracking store is a server (http or https), else None:
    a file or database store has no UI until ``mlflow ui`` serves it."""
    return tracking_uri if tracking_uri.startswith(("http://", "https://")) else None


def experiment_name(client: Any, experiment_id: Optional[str]) -> Optional[str]:
    """The name of experiment ``experiment_id``, as a person is shown it; its id when the
    store cannot say (an experiment is never shown as nothing)."""
    if experiment_id is None:
        return None
    try:
        return client.get_experiment(experiment_id).name
    except Exception:
        return experiment_id

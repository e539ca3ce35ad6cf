"""The MLflow UI link that lands on a search's runs.

MLflow 3's UI opens an experiment (``#/experiments/<id>``) on its GenAI overview of traces,
where runs do not show. ``#/experiments/<id>/runs`` opens the runs table, and its
``searchFilter`` query (the same filter syntax as the search box) keeps one search's runs.

>>> runs_link("http://127.0.0.1:5000/", "1", "a1b2c3")
'http://127.0.0.1:5000/#/experiments/1/runs?searchFilter=tags.%60hyperspark.search_id%60%20%3D%20%27a1b2c3%27'
"""
from __future__ import annotations

import urllib.parse
from typing import Optional

SEARCH_ID_TAG = "hyperspark.search_id"


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

"""A trial's hyperparameters as people read them: one value per hyperopt label, resolved.

hyperopt stores ``hp.choice`` as the index of the option; users want the option itself.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping

import numpy as np
from hyperopt import pyll

from hyperspark.space import choice_nodes, label_nodes


class ParamResolver:
    """Resolves the stored values of a trial into ``{label: value}`` for one search space.

    >>> from hyperopt import hp
    >>> ParamResolver({"act": hp.choice("act", ["relu", "tanh"])}).resolve({"act": [1]})
    {'act': 'tanh'}
    """

    def __init__(self, space: Any) -> None:
        self._expr = pyll.as_apply(space)
        self._params: Dict[str, Any] = label_nodes(self._expr)
        self._choices: Dict[str, Any] = choice_nodes(self._expr)

    @property
    def labels(self) -> List[str]:
        return list(self._params)

    def resolve(self, vals: Mapping[str, Any]) -> Dict[str, Any]:
        """``vals`` as in ``trial["misc"]["vals"]`` (lists) or plain values; inactive labels
        (conditional space) are left out."""
        memo: Dict[Any, Any] = {}
        plain: Dict[str, Any] = {}
        for label, value in vals.items():
            if isinstance(value, (list, tuple)):
                if not value:
                    continue
                value = value[0]
            plain[label] = value
            if label in self._params:
                memo[self._params[label]] = value
        resolved: Dict[str, Any] = {}
        for label, value in plain.items():
            switch = self._choices.get(label)
            if switch is not None:
                try:
                    value = pyll.rec_eval(switch, memo=memo)
                except Exception:
                    pass  # a point outside the space: show what is stored
            resolved[label] = value.item() if isinstance(value, np.generic) else value
        return resolved

"""The one reader of a hyperopt space.

- ``reader``: a space as parameters (kinds, bounds, log and quantized) and the groups they
  are active in (``Space``); its labels and nodes, with walks that never raise;
  ``describe_space`` for people (MLflow's space tag, space.json, the page);
- ``fit``: which recorded points are still valid in a (changed) space;
- ``check``: the mistakes refused before the first trial.

Every other module (``hyperspark.tpe``, params, checkpoints, continuation, tracking) reads
spaces through this package.

>>> from hyperopt import hp
>>> labels({"lr": hp.loguniform("lr", -7, 0), "act": hp.choice("act", ["relu", "tanh"])})
['act', 'lr']
"""
from hyperspark.space.check import check_space
from hyperspark.space.fit import Fit, fit_points
from hyperspark.space.reader import (Group, Param, Space, UnsupportedSpace, choice_nodes,
                                     describe_space, fingerprint, label_nodes, labels, space_line)

__all__ = ["Fit", "Group", "Param", "Space", "UnsupportedSpace", "check_space",
           "choice_nodes", "describe_space", "fingerprint", "fit_points", "label_nodes", "labels",
           "space_line"]

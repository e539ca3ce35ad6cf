"""hyperspark: Hyperopt searches on Apache Spark, with no polling and per-trial cancellation.

>>> from hyperopt import fmin, hp
>>> from hyperspark import SparkTrials, tpe
>>> best = fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=10,
...             trials=SparkTrials(backend="local"), show_progressbar=False)
"""
import logging

from hyperspark import auto, console, gp, pruners, tpe
from hyperspark.api import fmin
from hyperspark.backends.pool import ActorPool
from hyperspark.errors import (AllTrialsFailedError, ChannelUnreachable, CheckpointError,
                               CheckpointMismatch, HypersparkError, InvalidArgument,
                               InvalidArgumentType, ObjectiveNotSerializable, TrialPruned)
from hyperspark.reporting import report
from hyperspark.distributed import TrialContext, trial_context
from hyperspark.trials import SparkTrials
from hyperspark.worker import worker_state

__version__ = "0.1.0"
__all__ = ["SparkTrials", "ActorPool", "fmin", "report", "pruners", "tpe", "gp", "auto", "worker_state",
           "trial_context", "TrialContext",
           "HypersparkError",
           "AllTrialsFailedError", "ChannelUnreachable", "CheckpointError", "CheckpointMismatch",
           "InvalidArgument", "InvalidArgumentType", "ObjectiveNotSerializable", "TrialPruned",
           "__version__"]

# WARNING and above reach stderr while the application has configured no logging (as hyperopt
# does); HYPERSPARK_QUIET=1 or any logging set-up turns that off (hyperspark/console.py).
console.install(logging.getLogger("hyperspark"))

"""One BLAS thread while the GP computes.

The GP's matrices are a few hundred rows: one thread factors them in about a millisecond, and
more threads gain nothing. On a busy driver they lose a great deal: with both cores of this
machine taken by other work, OpenBLAS's second thread made a 300-point Cholesky take 35 ms
instead of 0.5, and a suggestion 239 ms instead of 66 (measured with cProfile, the same
suggestion, ``OPENBLAS_NUM_THREADS`` unset and 1).

threadpoolctl, where it is installed (scikit-learn needs it, and MLflow needs scikit-learn, so
it is there wherever hyperspark is), sets the limit for the duration of a suggestion and puts
it back after; without it the GP runs as it is, only slower on a busy machine. It is not a
dependency of its own: the GP's maths needs numpy and scipy only. The limit is process-wide:
a trial running BLAS on the driver at that moment runs it on one thread for those
milliseconds.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional

_controller: Optional[Any] = None
_limiter: Optional[Any] = None
_inside = 0
"""How many suggestions are inside the limit now (searches in threads): the first sets it,
the last puts the original back."""
_lock = threading.Lock()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """A context in which BLAS libraries run on one thread.

    >>> import numpy as np
    >>> with one_blas_thread():
    ...     float(np.linalg.cholesky(np.eye(3))[0, 0])
    1.0
    """
    global _controller, _limiter, _inside
    with _lock:
        if _inside == 0:
            _limiter = _limit()
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


def _limit() -> Optional[Any]:
    global _controller
    try:
        if _controller is None:  # inspecting the loaded libraries costs ms: once
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        return _controller.limit(limits=1, user_api="blas")
    except Exception:  # no threadpoolctl, or a library it cannot drive: just slower
        return None

"""Silence native (C++) stderr while TFLite/MediaPipe graphs start: absl logs written before absl's
initialisation ignore every log-level setting and would bury the progress bar. Python-level errors still
raise normally; only file descriptor 2 is redirected, and only inside the block."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    if os.environ.get("SKELFORGE_NATIVE_LOGS"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def nan_warnings_silenced():
    """All-NaN slices are expected (missing joints): silence numpy's RuntimeWarnings about them."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield

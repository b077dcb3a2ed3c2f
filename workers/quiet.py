"""Quiet native (C++) logging from TFLite/MediaPipe. absl logs written before absl's initialisation ignore every
log-level setting (GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL and the like change nothing) and would bury the progress
bar. `SKELFORGE_NATIVE_LOGS=1` turns both mechanisms off (to debug a native problem).

- `native_stderr_silenced()`: file descriptor 2 to /dev/null inside the block (model loading). Python-level
  errors still raise normally.
- `filter_native_logs()`: for a worker process, for good: its file descriptor 2 becomes a pipe to a small filter
  process that drops absl/glog INFO and WARNING lines (`W0000 00:00:... landmark_projection_calculator.cc:186]
  ...`, `I...`), TFLite's `INFO: ` lines and absl's "All log messages before absl::InitializeLog()" notice, and
  passes every other line (Python tracebacks, ERROR/FATAL native lines, the worker's own logging) to the original
  stderr. The filter is a separate process so that what a worker writes just before it crashes still comes out,
  and it ignores SIGINT so Ctrl-C does not leave the worker writing into a closed pipe.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys

NATIVE_NOISE = (rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\s\]]+:\d+\] |INFO: "
                rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)")

_FILTER = f"""
import re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
noise, out = re.compile({NATIVE_NOISE!r}), sys.stderr.buffer
for line in sys.stdin.buffer:
    if not noise.match(line):
        out.write(line)
        out.flush()
"""
_filter_proc: subprocess.Popen | None = None


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


def filter_native_logs() -> bool:
    """Route this process's stderr through the native-log filter (once per process); False when disabled."""
    global _filter_proc
    if os.environ.get("SKELFORGE_NATIVE_LOGS"):
        return False
    if _filter_proc is None:
        sys.stderr.flush()
        _filter_proc = subprocess.Popen([sys.executable, "-c", _FILTER], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL)
        os.dup2(_filter_proc.stdin.fileno(), 2)
    return True


@contextlib.contextmanager
def nan_warnings_silenced():
    """All-NaN slices are expected (missing joints): silence numpy's RuntimeWarnings about them."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield

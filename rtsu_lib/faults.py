"""Fault injection for the crash tests: kill this process with SIGKILL at a named point.

``RTSU_CRASH_AT="<point>:<n>"`` makes the n-th call of ``crash_point(<point>)`` (counted from 1 in
this process) kill the process at once, as a power cut or an OOM kill would. Points used by the
library: ``batch`` (after each training step), ``write:<folder>`` (inside an atomic write, after the
data went to the temporary file and before the rename; ``<folder>`` is ``checkpoints``, ``models``,
``runs`` or ``batch``). Unset, a call costs one environment lookup.
"""

import os
import signal
from collections import Counter

_calls = Counter()


def crash_point(point: str):
    wanted = os.environ.get("RTSU_CRASH_AT")
    if not wanted:
        return
    name, _, count = wanted.rpartition(":")
    if name != point:
        return
    _calls[point] += 1
    if _calls[point] == int(count):
        os.kill(os.getpid(), signal.SIGKILL)

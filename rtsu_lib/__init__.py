"""Companion library to "Not merely Memorization in Deep Networks: Universal Fitting and Specific
Generalization" (X. Yang): RTSU and friends, Wide ResNets, the paper's data variants, training
with a results store, and the plots of the book."""

import logging
import sys

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


def show_progress_lines(level=logging.INFO):
    """Print the library's log lines (one per epoch) on stdout, as notebooks and batch logs want."""
    logger = logging.getLogger(__name__)
    if not any(getattr(handler, "_rtsu_progress", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._rtsu_progress = True
        logger.addHandler(handler)
    logger.setLevel(level)

"""Process-wide settings, applied once at start-up (never per request)."""
from __future__ import annotations

import os

_done = False


def configure(threads: int | None = None) -> None:
    """Fix torch's thread count and silence the tokenizers' fork warning, once per process.

    Changing torch's thread count while other threads compute is unsafe, so the app
    calls this before the first model is loaded and never again.
    """
    global _done
    if _done:
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    n = threads or int(os.environ.get("ATTENTION_EXPLORER_THREADS", "0")) or min(4, os.cpu_count() or 1)
    torch.set_num_threads(n)
    _done = True

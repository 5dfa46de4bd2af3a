"""Start-up of the long-running processes: the worker's pool processes and the ingress's.

Python's cyclic garbage collector, on every full collection, walks every tracked object of the
oldest generation. In these processes that is mostly what start-up made and what lives as long
as the process: the modules of SQLAlchemy, pydantic, Celery and FastAPI, the table metadata, the
compiled models (a profile of the worker found it costly: docs/performance.md, "The folds").
``gc.freeze()`` moves everything alive
at start-up into a permanent generation the collector never visits; objects made afterwards are
collected as before, so a real cycle in request or task code is still freed.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()

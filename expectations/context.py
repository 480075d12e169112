"""Great Expectations contexts with analytics off: an in-memory one for checks, the repo's file one for docs.

``GX_ANALYTICS_ENABLED`` must be set before Great Expectations is first imported (it reads the
variable at import time), so every module of this package imports GE through :func:`gx_module`.
The network is closed in production sites too: nothing here may phone home.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

GX_ROOT = Path(__file__).resolve().parent  # the file context lives in expectations/gx/
SUITES_DIR = GX_ROOT / "gx" / "expectations"


def gx_module() -> ModuleType:
    """The ``great_expectations`` module, imported with analytics disabled."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GE warns about optional backends we do not use
        import great_expectations

    return great_expectations


@lru_cache(maxsize=1)
def ephemeral_context() -> Any:
    """An in-memory context (analytics and progress bars off) with one pandas data source.

    In memory so that concurrent asset checks never write into the repository's context.
    """
    gx = gx_module()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.data_sources.add_pandas("frames")
    return context


def file_context() -> Any:
    """The repository's file context in ``expectations/gx`` (suites as JSON, Data Docs sites)."""
    gx = gx_module()
    context = gx.get_context(mode="file", project_root_dir=str(GX_ROOT))
    return context

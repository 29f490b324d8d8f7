"""cellscale: cellular microscopy images to single-cell data, at any scale.

Import what you need from the sub-packages (``cellscale.io``, ``cellscale.data``,
``cellscale.metrics``, ...); ``import cellscale`` itself stays light.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

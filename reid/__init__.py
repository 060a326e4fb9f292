"""reid: vehicle re-identification across cameras.

The library never prints and never imports heavy dependencies (torch, ultralytics, faiss) at package
import time, so that ``reid --help`` stays fast. Import the sub-package you need.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""nzeza: a notebook-to-live crypto trading workbench.

Importing `nzeza` is cheap: heavy libraries (vectorbt, ccxt, jupyter) are imported only by the
modules that need them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nzeza")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

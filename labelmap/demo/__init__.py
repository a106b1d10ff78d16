"""The built-in sample: a synthetic CT series, an organ phantom and its round trip (``labelmap-convert demo``)."""

from labelmap.demo.run import run_demo

__all__ = ["run_demo"]

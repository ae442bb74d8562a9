"""huashi (画师): train, paint with and measure image generators on your own machine."""

__version__ = "0.1.0"

"""Metrics of image generators (M1-M3)."""

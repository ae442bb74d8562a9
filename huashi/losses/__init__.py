"""Losses as small pure functions."""

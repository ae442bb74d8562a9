"""Diffusion building blocks: noise schedules and samplers (pure functions, no training)."""

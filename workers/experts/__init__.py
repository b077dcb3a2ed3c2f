"""Pose experts: one module each, one contract (workers/experts/base.py), registered by name in registry.py."""

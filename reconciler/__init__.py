"""rollout-reconciler: promotion decisions to governed, audited rollout-policy changes."""

__version__ = "0.1.0"

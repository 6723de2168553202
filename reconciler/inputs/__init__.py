"""Inputs of every command: the layout, the registry, the decision, the settings."""

"""Read-only reports over a policy repository: history, status and plans."""

"""Setting up: `reconcile init` (a new policy repository) and `reconcile demo`."""

"""The long-lived controller (`reconcile --watch`): triggers, passes, HTTP, metrics, logs."""

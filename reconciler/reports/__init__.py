"""Read-only views of a policy repository: validate, status, plan, history. They write nothing."""

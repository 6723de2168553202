"""The `reconcile` subcommands, one module each: flags -> one call into a use-case -> output."""

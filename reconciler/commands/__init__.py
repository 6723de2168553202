"""The `reconcile` subcommands beyond apply/validate/schema, loaded lazily by the CLI."""

"""`reconcile apply`: the imperative path (layout, lock, journal, one record)."""

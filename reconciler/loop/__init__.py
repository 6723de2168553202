"""The GitOps loop: pending intent files -> one commit each, pushed with retries."""

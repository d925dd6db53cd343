"""Accounts and their roles, API tokens, and how a person or a script logs in."""

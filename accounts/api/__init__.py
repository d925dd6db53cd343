"""The accounts app's API: /users (users.py) and /tokens (tokens.py)."""

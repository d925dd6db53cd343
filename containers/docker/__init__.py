"""The Docker wrapper: the only code that imports the Docker SDK (client), Docker's log format (wire), results (types)."""

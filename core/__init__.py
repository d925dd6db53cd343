"""The floor every Portico app stands on: domain errors, audit, roles, API helpers, htmx; it imports none of them."""

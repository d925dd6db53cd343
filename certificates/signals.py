"""What the certificates app tells the layers above it (publishing) without importing them."""

from django.dispatch import Signal

# Sent by the worker once a newly issued or renewed certificate is stored (kwargs: ``certificate``, ``renewal``).
# Publishing listens and republishes what is live, so the new chain reaches the proxy as a verified revision.
certificate_issued = Signal()

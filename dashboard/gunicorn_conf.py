"""gunicorn's settings for Portico: ``scripts/serve``, the tests' servers and the benchmarks all start with this file.

Portico is an ASGI application served by gunicorn's own asyncio worker: pages run each in a thread of their own
(at most PORTICO_CONCURRENT_REQUESTS at once per process), live log streams on the event loop (docs/architecture.md,
"Serving"). The address comes from the command line (``--bind``).
"""

wsgi_app = "dashboard.asgi:application"
worker_class = "asgi"
workers = 2
# A request's body must arrive within this many seconds; a worker that stops answering its master is restarted.
timeout = 120
control_socket_disable = True

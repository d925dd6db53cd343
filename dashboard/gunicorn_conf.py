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
# A request line may be as long as gunicorn allows (its default is half that): filters take up to 255 characters,
# and 255 four-byte characters percent-encoded are 3,060 bytes, so a list URL with two of them would otherwise be
# refused with gunicorn's own HTML 414 page instead of Portico's JSON answer.
limit_request_line = 8190

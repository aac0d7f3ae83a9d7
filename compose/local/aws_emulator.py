"""moto's AWS emulator (S3, SES, DynamoDB) as a WSGI application, for the local runner.

    gunicorn --pythonpath compose/local aws_emulator:application --worker-class gthread --workers 1

`moto_server` serves the same application with Werkzeug's development server, which answers
every request with `Connection: close`: each call of every client then opens a TCP connection
and the server starts a thread for it. Under gunicorn's threaded worker the clients keep their
connections (bench/writes/RESULTS.md measures the difference). One worker process only: the
emulated services keep their state in that process's memory.
"""

from moto.server import DomainDispatcherApplication, create_backend_app

application = DomainDispatcherApplication(create_backend_app)

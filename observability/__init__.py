"""What the processes tell operators: Prometheus metrics, JSON logs and the request id that ties
a request to its events, feed rows, statistics and e-mails."""

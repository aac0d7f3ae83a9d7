#!/usr/bin/env bash
# The metrics' overhead: the feed benchmark's relay and read parts, metrics on and off
# (METRICS_ENABLED=0) alternating, three pairs, each run under the benchmark lock.
#   BENCH_POSTGRES_DB=<a database with the feed dataset> [REDIS_URL=...] bench/feed/metrics-overhead/run.sh
# Results: <pair>-<on|off>.json beside this script; the table is in bench/feed/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/../../.."
out=bench/feed/metrics-overhead
for i in 1 2 3; do for mode in on off; do
  if [ "$mode" = off ]; then export METRICS_ENABLED=0; else unset METRICS_ENABLED; fi
  echo "== $i $mode $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  flock /tmp/innotter-bench.lock .venv/bin/python -m bench.feed.run --skip-dataset --skip-feeds \
    --only relay,sweep --relay-events 30000 --sweep-follows 500 --sweep-clients 2 --sweep-seconds 10 \
    --json "$out/$i-$mode.json" > "$out/$i-$mode.log" 2>&1
  echo "rc $?"
done; done

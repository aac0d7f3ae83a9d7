#!/usr/bin/env bash
# Starts PostgreSQL, RabbitMQ and Redis when they are installed here but not running, then waits for them.
set -euo pipefail

PG_HOST="${POSTGRES_HOST:-127.0.0.1}"
PG_PORT="${POSTGRES_PORT:-5432}"
RABBIT_HOST="${RABBITMQ_HOST:-127.0.0.1}"
RABBIT_PORT="${RABBITMQ_PORT:-5672}"
REDIS_PORT=6379

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  local host=$1 port=$2 name=$3
  for _ in $(seq 1 120); do
    port_open "$host" "$port" && return 0
    sleep 0.5
  done
  echo "$name did not come up on $host:$port" >&2
  return 1
}

if ! port_open "$PG_HOST" "$PG_PORT"; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  else
    echo "PostgreSQL does not answer on $PG_HOST:$PG_PORT and is not installed here" \
      "(apt-get install postgresql, or point POSTGRES_HOST/POSTGRES_PORT at one)" >&2
  fi
fi
if ! port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached || true
  else
    echo "RabbitMQ does not answer on $RABBIT_HOST:$RABBIT_PORT and is not installed here" \
      "(apt-get install rabbitmq-server, or point RABBITMQ_HOST/RABBITMQ_PORT at one)" >&2
  fi
fi
# Redis keeps the home feeds; only the local one (REDIS_URL pointing here, the default) is started.
case "${REDIS_URL:-redis://127.0.0.1:6379/0}" in
  redis://127.0.0.1:*|redis://localhost:*|redis://127.0.0.1/*|redis://localhost/*)
    if ! port_open 127.0.0.1 "$REDIS_PORT" && command -v redis-server >/dev/null 2>&1; then
      echo "starting Redis"
      mkdir -p /tmp/innotter-redis
      redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir /tmp/innotter-redis --logfile /tmp/innotter-redis/redis.log || true
    fi
    WAIT_REDIS=1
    ;;
esac
wait_port "$PG_HOST" "$PG_PORT" PostgreSQL
wait_port "$RABBIT_HOST" "$RABBIT_PORT" RabbitMQ
if [ "${WAIT_REDIS:-0}" = "1" ]; then wait_port 127.0.0.1 "$REDIS_PORT" Redis; fi

# `make run` asks for RabbitMQ's management UI too (RABBITMQ_MANAGEMENT=1); a missing plugin is no error.
if [ "${RABBITMQ_MANAGEMENT:-0}" = "1" ] && command -v rabbitmq-plugins >/dev/null 2>&1; then
  rabbitmq-plugins enable --online rabbitmq_management >/dev/null 2>&1 \
    || echo "note: could not enable the RabbitMQ management UI (rabbitmq-plugins enable rabbitmq_management)"
fi

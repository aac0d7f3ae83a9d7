#!/usr/bin/env bash
# Starts PostgreSQL and RabbitMQ when they are installed here but not running, then waits for them.
set -euo pipefail

PG_HOST="${POSTGRES_HOST:-127.0.0.1}"
PG_PORT="${POSTGRES_PORT:-5432}"
RABBIT_HOST="${RABBITMQ_HOST:-127.0.0.1}"
RABBIT_PORT="${RABBITMQ_PORT:-5672}"

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
wait_port "$PG_HOST" "$PG_PORT" PostgreSQL
wait_port "$RABBIT_HOST" "$RABBIT_PORT" RabbitMQ

# `make run` asks for RabbitMQ's management UI too (RABBITMQ_MANAGEMENT=1); a missing plugin is no error.
if [ "${RABBITMQ_MANAGEMENT:-0}" = "1" ] && command -v rabbitmq-plugins >/dev/null 2>&1; then
  rabbitmq-plugins enable --online rabbitmq_management >/dev/null 2>&1 \
    || echo "note: could not enable the RabbitMQ management UI (rabbitmq-plugins enable rabbitmq_management)"
fi

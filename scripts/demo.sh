#!/usr/bin/env bash
# Starts aiosmtpd's debugging server on 127.0.0.1, sends the default test
# message through smtp-send, and shows both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-8025}"
PY="${PYTHON:-scripts/py}"
log="$(mktemp)"
"$PY" -m aiosmtpd -n -l "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
  "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.05
done

echo "== smtp-send localhost:$port sender@example.com friend@example.com another@example.com"
echo "== (the transcript is stderr, the result stdout)"
status=0
"${SMTP_SEND:-target/release/smtp-send}" "localhost:$port" sender@example.com friend@example.com another@example.com || status=$?
sleep 0.3
echo
echo "== what the server (python -m aiosmtpd -n, the Debugging handler) received:"
cat "$log"
exit "$status"

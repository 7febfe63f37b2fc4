#!/usr/bin/env bash
# make bench: smtp-send measured side by side with the peer SMTP clients in
# one run of the shared kit (../shared/bench, see its README), under
# PIN=same and PIN=split, plus what only an embedder sees (sandbox cost,
# 1,000 concurrent sends, start-up latency). Writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
KIT="${BENCH_KIT:-$ROOT/../shared/bench}"
[ -x "$KIT/run-peers.sh" ] || { echo "bench: no kit at $KIT (set BENCH_KIT)" >&2; exit 1; }
BIN="$ROOT/target/release/smtp-send"
BENCH="$ROOT/target/release/smtp-bench"
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="${BENCH_OUT:-/tmp/smtp-bench-out/smtp-send-$STAMP}"
mkdir -p "$OUT"

# What the kit needs (its README): Postfix's smtp-sink and smtp-source,
# swaks, hyperfine; Rust for its lettre peers.
need=()
command -v smtp-source >/dev/null || need+=(postfix)
command -v swaks >/dev/null || need+=(swaks)
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The component cache is filled once, outside the measurements.
"$BIN" --help >/dev/null
CANDIDATE="$BIN -q {server} {from} {to} --count {count} --size {size} {reuse}"
for pin in same split; do
  echo "bench: peers with PIN=$pin" >&2
  PIN=$pin CANDIDATE="$CANDIDATE" CANDIDATE_NAME=smtp-send OUT_DIR="$OUT/pin-$pin" \
    BENCH_BUILD="${BENCH_BUILD:-/tmp/smtp-bench-build}" SKIP_BUILD="${SKIP_BUILD:-0}" \
    "$KIT/run-peers.sh" >/dev/null
  SKIP_BUILD=1
done

echo "bench: sandbox cost, concurrency, start-up" >&2
{
  "$BENCH" overhead 20000
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  user=(); [ "$(id -u)" = 0 ] && user=(-u nobody)
  smtp-sink "${user[@]}" -c -m 2048 "127.0.0.1:$port" 2048 >/dev/null 2>&1 &
  sink=$!
  trap 'kill $sink 2>/dev/null' EXIT
  sleep 0.5
  "$BENCH" concurrent 1000 "127.0.0.1:$port"
  kill $sink; trap - EXIT
  python3 bench/first_byte.py "$BIN" 30
} | tee "$OUT/extra.txt"

python3 bench/report.py "$OUT" > BENCHMARKS.md
echo "bench: BENCHMARKS.md written (raw output in $OUT)" >&2

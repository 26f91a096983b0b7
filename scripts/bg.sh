#!/usr/bin/env bash
# A build step run in the background while `make test` runs the tests, on the CPU they leave idle.
#
#   scripts/bg.sh start NAME OWNER_PID CMD...   starts CMD at idle priority (SCHED_IDLE where chrt
#                                               has it, else nice 19), its output in .bg/NAME.log;
#                                               if OWNER_PID exits before `wait`, CMD is killed
#   scripts/bg.sh wait NAME                     waits for it, prints its output, exits with its status
#
# Why: `make test` builds the binding twice, for CPython 3.11 and for the free-threaded 3.13t
# (about 4 minutes each on 2 cores), and pytest leaves one core mostly idle for 6-7 minutes. At idle
# priority the second build takes only what the tests do not use: a test thread that wakes up
# preempts it at once.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.bg
cmd=${1:-}
name=${2:-}
[ -n "$name" ] || { echo "usage: $0 start NAME OWNER_PID CMD... | $0 wait NAME" >&2; exit 2; }

case "$cmd" in
start)
  owner=$3
  shift 3
  mkdir -p "$dir"
  rm -f "$dir/$name.rc" "$dir/$name.pid"
  idle=(nice -n 19)
  if chrt --idle 0 true 2>/dev/null; then idle=(chrt --idle 0 nice -n 19); fi
  # setsid: the job and its children form their own process group, killed together.
  setsid bash -c '"$@" > "'"$dir/$name.log"'" 2>&1; echo $? > "'"$dir/$name.rc"'"' bash "${idle[@]}" "$@" &
  job=$!
  echo "$job" > "$dir/$name.pid"
  # The watchdog: if the owner (make) exits first, for a failed step, the job is killed.
  (
    while kill -0 "$owner" 2>/dev/null && [ ! -e "$dir/$name.rc" ]; do sleep 2; done
    [ -e "$dir/$name.rc" ] || kill -- "-$job" 2>/dev/null || true
  ) > /dev/null 2>&1 &
  echo "bg: $name started in the background at idle priority (pid $job): ${*}"
  ;;
wait)
  [ -e "$dir/$name.pid" ] || { echo "bg: $name was never started" >&2; exit 2; }
  started=$(date +%s)
  while [ ! -e "$dir/$name.rc" ]; do
    if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null && [ ! -e "$dir/$name.rc" ]; then
      sleep 1
      [ -e "$dir/$name.rc" ] || { cat "$dir/$name.log"; echo "bg: $name died without a status" >&2; exit 1; }
    fi
    sleep 1
  done
  cat "$dir/$name.log"
  rc=$(cat "$dir/$name.rc")
  echo "bg: $name ended with status $rc (waited $(( $(date +%s) - started )) s for it)"
  exit "$rc"
  ;;
*)
  echo "usage: $0 start NAME OWNER_PID CMD... | $0 wait NAME" >&2
  exit 2
  ;;
esac

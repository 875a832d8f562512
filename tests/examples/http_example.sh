#!/usr/bin/env bash
# http_example.sh - `make test`'s check of examples/http_server.c: a real server (http-example
# on a free loopback port) and a real client (the curl command-line tool), and promtool for
# the metrics. Usage: http_example.sh PATH/TO/http-example
set -uo pipefail

bin=${1:?usage: http_example.sh PATH/TO/http-example}
tmp=$(mktemp -d "${CW_TEST_TMPDIR:-/tmp}/http-example.XXXXXX" 2>/dev/null || mktemp -d)
pid=""
passed=0
failed=0

cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

for tool in curl promtool; do
  command -v "$tool" >/dev/null || { echo "http_example: $tool is missing (scripts/install-deps.sh installs it)"; exit 1; }
done

ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}

# Start the server on port 0 (it picks a free one) and read the port it prints.
start() {
  mkdir -p "$tmp"
  "$bin" --port 0 "$@" >"$tmp/server.out" 2>"$tmp/server.err" &
  pid=$!
  for _ in $(seq 1 200); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "${port:-}" ] || { echo "http_example: the server did not start:"; cat "$tmp/server.err"; exit 1; }
  base="http://127.0.0.1:$port"
}

# Stop it with @1 (TERM or INT); it must exit 0 within 10 s.
stop() {
  kill -"$1" "$pid"
  local rc
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then bad "SIG$1 stops the server within 10 s"; kill -KILL "$pid"; fi
  wait "$pid"
  rc=$?
  pid=""
  check "SIG$1: clean exit (status $rc)" [ "$rc" -eq 0 ]
}

# get PATH [curl options...]: status in $code, seconds in $secs, headers in $tmp/h, body in $tmp/b
get() {
  local path=$1; shift
  local out
  rm -f "$tmp/h" "$tmp/b" # curl writes no file for an empty body
  out=$(curl -sS --max-time 20 -D "$tmp/h" -o "$tmp/b" -w '%{http_code} %{time_total}' "$@" "$base$path") || out="000 0"
  code=${out% *}
  secs=${out#* }
}
# The value of response header $1 from the last get (case-insensitive name), or "".
hdr() { grep -i "^$1:" "$tmp/h" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }
matches() { [[ $1 =~ $2 ]]; }   # matches STRING EXTENDED-REGEX
starts() { [[ $1 == "$2"* ]]; }  # starts STRING PREFIX
slower_than() { awk -v s="$secs" -v m="$1" 'BEGIN { exit !(s >= m) }'; }
loads() { # the user loader's run count, from /metrics
  curl -sS "$base/metrics" | sed -n 's/^http_example_loader_calls_total{function="'"$1"'"} //p'
}

start

# --- GET /user/<id>: a miss (~50 ms), then a hit with X-From-Cache ---
get /user/42
check "first /user/42: 200" [ "$code" = 200 ]
check "first /user/42 is a miss: took $secs s (the loader sleeps 50 ms)" slower_than 0.045
check "first /user/42 has no X-From-Cache" [ -z "$(hdr X-From-Cache)" ]
etag=$(hdr ETag)
check "first /user/42 has a strong ETag ($etag)" matches "$etag" '^"[0-9a-f]{32}"$'
check "first /user/42: Cache-Control $(hdr Cache-Control)" matches "$(hdr Cache-Control)" '^private, max-age=(599|600)$'
cp "$tmp/b" "$tmp/user42"
get /user/42
check "second /user/42: 200 with X-From-Cache: user:42" [ "$code" = 200 -a "$(hdr X-From-Cache)" = "user:42" ]
check "second /user/42: X-From-Cache-Expire-In-Seconds $(hdr X-From-Cache-Expire-In-Seconds)" \
  [ -n "$(hdr X-From-Cache-Expire-In-Seconds)" ]
check "second /user/42: the same body and ETag" cmp -s "$tmp/b" "$tmp/user42"
check "second /user/42: ETag unchanged" [ "$(hdr ETag)" = "$etag" ]
check "the loader ran once" [ "$(loads user)" = 1 ]

# --- If-None-Match with the ETag: 304, no body; in a list, weak, and a stale one ---
get /user/42 -H "If-None-Match: $etag"
check "If-None-Match: the ETag -> 304" [ "$code" = 304 ]
check "304 has no body" [ ! -s "$tmp/b" ]
check "304 repeats the ETag" [ "$(hdr ETag)" = "$etag" ]
get /user/42 -H "If-None-Match: \"other\", W/$etag"
check "If-None-Match: a list with the weak ETag -> 304" [ "$code" = 304 ]
get /user/42 -H 'If-None-Match: "0123456789abcdef0123456789abcdef"'
check "If-None-Match: another tag -> 200" [ "$code" = 200 ]
check "If-None-Match: another tag -> the body" cmp -s "$tmp/b" "$tmp/user42"
check "the loader still ran once" [ "$(loads user)" = 1 ]

# --- Cache-Control: no-cache: the loader runs again, and its value is stored ---
get /user/42 -H 'Cache-Control: no-cache'
check "no-cache: 200 without X-From-Cache" [ "$code" = 200 -a -z "$(hdr X-From-Cache)" ]
check "no-cache: the loader ran again" [ "$(loads user)" = 2 ]
check "no-cache: a new body (load 2)" grep -q '"load":2' "$tmp/b"
get /user/42 -H "If-None-Match: $etag"
check "the old ETag no longer gives a 304" [ "$code" = 200 ]
get /user/42
check "after no-cache the fresh value is served from the cache" [ "$(hdr X-From-Cache)" = user:42 ]
check "after no-cache the cached value is load 2" grep -q '"load":2' "$tmp/b"

# --- Clear-Site-Data: "cache": the keys are deleted, the next request is a miss ---
get /user/42 -H 'Clear-Site-Data: "cache"'
check "Clear-Site-Data: 200, X-Cache-Cleared: $(hdr X-Cache-Cleared)" [ "$code" = 200 -a "$(hdr X-Cache-Cleared)" = 1 ]
before=$(loads user)
get /user/42
check "after Clear-Site-Data: a miss (no X-From-Cache)" [ -z "$(hdr X-From-Cache)" ]
check "after Clear-Site-Data: the loader ran" [ "$(loads user)" = $((before + 1)) ]
check "after Clear-Site-Data: a miss takes $secs s" slower_than 0.045

# --- /stream/5 twice: identical bytes, the second from the cache with an ETag ---
get /stream/5
check "first /stream/5: 200" [ "$code" = 200 ]
check "first /stream/5: 5 chunks" [ "$(grep -c '^chunk [1-5] of 5 (load 1)$' "$tmp/b")" = 5 ]
check "first /stream/5: chunked" [ "$(hdr Transfer-Encoding)" = chunked ]
cp "$tmp/b" "$tmp/stream5"
get /stream/5
check "second /stream/5: identical bytes" cmp -s "$tmp/b" "$tmp/stream5"
check "second /stream/5: X-From-Cache: stream:5" [ "$(hdr X-From-Cache)" = stream:5 ]
setag=$(hdr ETag)
check "second /stream/5: an ETag ($setag)" matches "$setag" '^"[0-9a-f]{32}"$'
check "the stream loader ran once" [ "$(loads stream)" = 1 ]
get /stream/5 -H "If-None-Match: $setag"
check "/stream/5 with its ETag -> 304, no body" [ "$code" = 304 -a ! -s "$tmp/b" ]

# --- /static, and bad requests: 4xx, never a crash ---
get /static
check "/static: 200, as long as a /user body" [ "$code" = 200 -a "$(wc -c <"$tmp/b")" = "$(wc -c <"$tmp/user42")" ]
for bad_path in /nope /user/abc /user/ /user/12x /user/99999999999999999999 /stream/0 /stream/101 /stream/x; do
  get "$bad_path"
  check "GET $bad_path -> $code" [ "${code:0:1}" = 4 ]
done
get /user/1 -X POST -d x=1
check "POST /user/1 -> 405" [ "$code" = 405 ]
long=$(head -c 8192 /dev/zero | tr '\0' a)
get /user/1 -H "X-Long: $long"
check "a header 8 KiB long -> 431" [ "$code" = 431 ]
get /user/1 -H "If-None-Match: $long"
check "an 8 KiB If-None-Match -> 431" [ "$code" = 431 ]
head -c 65536 /dev/zero | tr '\0' a | sed 's/^/X-Huge: /' >"$tmp/huge"
get /user/1 -H @"$tmp/huge"
check "a header 64 KiB long -> $code" [ "${code:0:1}" = 4 ]
tags=$(printf '"%032x", ' $(seq 1 190)) # 190 tags, 7 KB
get /user/42 -H "If-None-Match: ${tags}W/\"nope\""
check "a 7 KB If-None-Match list without the tag -> 200" [ "$code" = 200 ]
get /user/42
cur=$(hdr ETag)
get /user/42 -H "If-None-Match: $tags$cur"
check "a 7 KB If-None-Match list ending with the tag -> 304" [ "$code" = 304 ]
get /static
check "still serving after the bad requests" [ "$code" = 200 ]

# --- /metrics: Prometheus text 0.0.4 that promtool accepts ---
get /metrics
check "/metrics: 200" [ "$code" = 200 ]
check "/metrics: Content-Type $(hdr Content-Type)" starts "$(hdr Content-Type)" "text/plain; version=0.0.4"
if promtool check metrics <"$tmp/b" >"$tmp/promtool" 2>&1; then ok "promtool check metrics"; else bad "promtool check metrics"; cat "$tmp/promtool"; fi
check "/metrics counts cache gets" grep -q '^cashews_get_operation_total{result="hit",backend="mem"} [1-9]' "$tmp/b"
check "/metrics counts requests" grep -q '^http_example_requests_total{route="user",code="304"} [1-9]' "$tmp/b"

# --- clean shutdown: SIGTERM with a stream running, then SIGINT ---
curl -sS --max-time 20 -o "$tmp/cut" "$base/stream/100" 2>/dev/null &
client=$!
sleep 0.2
stop TERM
wait "$client" 2>/dev/null
start --cache 'mem://?size=10'
get /user/7
check "restarted with --cache: 200" [ "$code" = 200 ]
stop INT
if grep -qi "sanitizer\|runtime error" "$tmp/server.err"; then bad "no sanitizer report"; cat "$tmp/server.err"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

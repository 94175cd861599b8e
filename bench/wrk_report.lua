-- Sends the Accept-Encoding given in BENCH_ACCEPT_ENCODING (default "gzip, deflate", as pip and uv send), the
-- Accept header given in BENCH_ACCEPT, and prints the run's figures as one JSON line.
wrk.headers["Accept-Encoding"] = os.getenv("BENCH_ACCEPT_ENCODING") or "gzip, deflate"
local accept = os.getenv("BENCH_ACCEPT")
if accept and accept ~= "" then
  wrk.headers["Accept"] = accept
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end

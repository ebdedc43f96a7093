// Daemon timings shrunk so tokens living seconds work: shared by the test harness and the demo.
// (No vitest import here, so scripts can use it.)
export const FAST_TIMINGS: Record<string, string> = {
  FEEDER_INTERVAL_MS: '1000',
  HORIZON_MS: '60000',
  REFRESH_JITTER_MS: '200',
  RETRY_BASE_MS: '300',
  RETRY_MAX_MS: '3000',
  COMMIT_RETRY_MS: '20000',
  JOB_LOCK_MS: '5000',
  STALLED_INTERVAL_MS: '2000',
  SHUTDOWN_TIMEOUT_MS: '5000',
  BREAKER_PROBE_INTERVAL_MS: '1000',
};

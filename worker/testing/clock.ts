// Clock skew for the chaos suite only: with ORT_ENABLE_FAULT_INJECTION=1, ORT_CLOCK_SKEW_MS=N (or
// "clockSkewMs" in ORT_FAULT_CONTROL_FILE) makes this process's clock (the Daemon `now` option) run
// N ms ahead (negative: behind) of the machine's. Undefined (the real clock) otherwise.
import { skewedClockFromEnv } from './faults.ts';

export function clockFromEnv(env: Record<string, string | undefined> = process.env): (() => number) | undefined {
  return skewedClockFromEnv(env);
}

// The chaos suite's daemon process: worker/main.ts with the fault hooks and the skewed clock of
// faults.ts (both off unless ORT_ENABLE_FAULT_INJECTION=1). DaemonFleet (procs.ts) starts this file
// as `node --import tsx test/chaos/daemon-entry.ts`: one process, so signals hit the daemon itself.
import { main } from '../../worker/main.ts';
import { faultPointFromEnv, skewedClockFromEnv } from './faults.ts';

void main(() => ({ faultPoint: faultPointFromEnv(), now: skewedClockFromEnv() }));

// Fault injection for the chaos suite only. Off unless ORT_ENABLE_FAULT_INJECTION=1; then
// ORT_FAULT_KILL_AT="after_answer:0.1,before_call:0.05" kills this process with SIGKILL at that
// point of a refresh with that probability. Never enable it in production.
import type { RefresherDeps } from '../refresh/refresher.ts';

export type FaultPoint = 'before_call' | 'after_answer' | 'after_commit' | 'before_ack';

export function faultPointFromEnv(env: Record<string, string | undefined> = process.env): RefresherDeps['faultPoint'] | undefined {
  if (env.ORT_ENABLE_FAULT_INJECTION !== '1') return undefined;
  const plan = new Map<string, number>();
  for (const part of (env.ORT_FAULT_KILL_AT ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [point, p] = part.split(':');
    const prob = Number(p ?? '1');
    if (!['before_call', 'after_answer', 'after_commit', 'before_ack'].includes(point) || !(prob >= 0 && prob <= 1)) {
      throw new Error(`ORT_FAULT_KILL_AT: bad entry "${part}" (use point:probability, points before_call, after_answer, after_commit, before_ack)`);
    }
    plan.set(point, prob);
  }
  return (point) => {
    const prob = plan.get(point);
    if (prob !== undefined && Math.random() < prob) {
      process.stderr.write(`fault injection: SIGKILL at ${point}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  };
}

// `why`: turns a connection's row, its attempt history and its provider's definition into a
// diagnosis in plain words plus the next step. Pure: the command loads the inputs, the first rule
// of diagnose-rules.ts that applies decides.
import { RULES, said, type DiagContext } from './diagnose-rules.ts';
import type { Diagnosis, DiagnoseInput } from './diagnose-types.ts';

export type { DiagAttempt, DiagConnection, DiagnoseInput, Diagnosis, DiagProvider, Peer } from './diagnose-types.ts';
export { RULES } from './diagnose-rules.ts';

export function contextOf(input: DiagnoseInput): DiagContext {
  const { connection: c, attempts } = input;
  const terminal = attempts.find((a) => a.outcome === 'needs_reauth');
  return {
    input,
    c,
    now: input.now,
    provider: input.provider,
    pname: input.provider?.displayName ?? c.provider,
    terminal,
    lastFinished: attempts.find((a) => a.finishedAt !== null),
    reason: c.reauthReason ?? 'unknown',
    when: c.reauthAt ?? terminal?.finishedAt ?? c.lastErrorAt,
    said: said(terminal, c),
  };
}

export function diagnose(input: DiagnoseInput): Diagnosis {
  const x = contextOf(input);
  // The last rule always applies.
  return RULES.find((r) => r.when(x))!.diagnose(x);
}

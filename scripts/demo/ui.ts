// Where the demo writes and how: with --json the JSON summary is the only thing on stdout and the
// human view goes to stderr; colours only on a terminal.
import { styleFor, type Style } from './view.ts';

export interface Ui {
  out: NodeJS.WriteStream;
  tty: boolean;
  st: Style;
  /** A plain function (callers destructure it from the Ui). */
  say: (line?: string) => void;
  /** The pass and fail marks. */
  ok: string;
  bad: string;
}

export function makeUi(json: boolean): Ui {
  const out: NodeJS.WriteStream = json ? process.stderr : process.stdout;
  const st = styleFor(out);
  return {
    out,
    tty: Boolean(out.isTTY),
    st,
    say: (line = '') => out.write(`${line}\n`),
    ok: st.green('✓'),
    bad: st.red('✗'),
  };
}

export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// The run's interrupts and what it created: a first Ctrl-C (or SIGTERM) stops early and cleans up,
// a second quits at once and says what it left behind; the daemon never outlives the demo.
import type { FakeProvider } from '../../test/fakes/fake-provider.ts';
import type { DaemonProcess } from './daemon-process.ts';
import type { Ui } from './ui.ts';
import type { LiveBlock } from './view.ts';

export class Interrupted extends Error {}

export interface Created {
  dbUrl?: string;
  dbName?: string;
  dbCreated: boolean;
  redisUrl?: string;
  prefix?: string;
  fake?: FakeProvider;
  daemon?: DaemonProcess;
  tmpDir?: string;
  live?: LiveBlock;
}

export class Run {
  readonly created: Created = { dbCreated: false };
  private interrupts = 0;
  private wakeAll: () => void = () => undefined;
  private readonly interrupted = new Promise<void>((r) => (this.wakeAll = r));

  constructor(private readonly ui: Ui) {}

  readonly aborted = (): boolean => this.interrupts > 0;

  /** Sleeps, or ends at once on an interrupt. */
  readonly sleep = (ms: number): Promise<void> =>
    Promise.race([new Promise<void>((r) => setTimeout(r, ms)), this.interrupted]);

  readonly checkAbort = (): void => {
    if (this.aborted()) throw new Interrupted('interrupted');
  };

  installSignalHandlers(): void {
    process.on('SIGINT', () => this.onSignal('SIGINT'));
    process.on('SIGTERM', () => this.onSignal('SIGTERM'));
    process.on('exit', () => {
      // Whatever happened, never leave the daemon running behind the demo.
      if (this.created.daemon?.running) this.created.daemon.killGroup('SIGKILL');
      if (this.ui.tty) this.created.live?.showCursor();
    });
  }

  private leftBehind(): string[] {
    const c = this.created;
    const l: string[] = [];
    if (c.daemon?.running) l.push(`daemon process group ${c.daemon.pid}`);
    if (c.dbCreated && c.dbName) l.push(`database ${c.dbName}`);
    if (c.prefix) l.push(`Redis keys ${c.prefix}*`);
    return l;
  }

  private onSignal(signal: NodeJS.Signals): void {
    this.interrupts++;
    if (this.interrupts === 1) {
      this.ui.out.write(
        `\n${this.ui.st.yellow(`${signal}: stopping early and cleaning up (press Ctrl-C again to quit at once)`)}\n`,
      );
      this.wakeAll();
      return;
    }
    this.created.live?.showCursor();
    const left = this.leftBehind();
    process.stderr.write(
      `demo: quitting without cleaning up${left.length ? `; left behind: ${left.join(', ')}` : ''}\n`,
    );
    this.created.daemon?.killGroup('SIGTERM');
    process.exit(130);
  }
}

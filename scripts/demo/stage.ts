// What every step after the set-up works with.
import type { FakeProvider } from '../../test/fakes/fake-provider.ts';
import type { DaemonProcess } from './daemon-process.ts';
import type { Options } from './options.ts';
import type { Run } from './run.ts';
import type { Api, Conn } from './types.ts';
import type { Ui } from './ui.ts';

export interface Stage {
  ui: Ui;
  run: Run;
  opts: Options;
  fake: FakeProvider;
  daemon: DaemonProcess;
  api: Api;
  conns: Conn[];
  byId: Map<string, Conn>;
}

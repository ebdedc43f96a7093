// The connections: a grant issued at the fake for each, registered with POST /v1/connections,
// tokens living 4-8 s so they do not all come due together.
import type { FakeProvider } from '../../test/fakes/fake-provider.ts';
import type { DaemonProcess } from './daemon-process.ts';
import type { Run } from './run.ts';
import { PROVIDER_KEY, type Api, type Conn } from './types.ts';
import { secs, type Ui } from './ui.ts';
import { mapLimit } from './util.ts';

export async function registerConnections(
  { say, ok }: Ui,
  run: Run,
  count: number,
  fake: FakeProvider,
  api: Api,
  daemon: DaemonProcess,
): Promise<Conn[]> {
  const t = Date.now();
  const width = String(count).length;
  const conns: Conn[] = await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    6,
    async (i) => {
      const label = `user-${String(i + 1).padStart(width, '0')}`;
      const lifetimeS = 4 + (i % 5); // 4..8 s, so they do not all come due together
      const g = fake.issueGrant({ userId: label });
      const r = await api('POST', '/v1/connections', {
        provider: PROVIDER_KEY,
        externalId: label,
        tokens: {
          access_token: g.accessToken,
          refresh_token: g.refreshToken,
          expires_in: lifetimeS,
          token_type: 'Bearer',
        },
      });
      if (r.status !== 201)
        throw new Error(`POST /v1/connections for ${label} answered ${r.status}: ${JSON.stringify(r.body)}`);
      return {
        id: r.body.id as string,
        grantId: g.grantId,
        label,
        lifetimeS,
        version: 1,
        status: r.body.status as string,
        nextRefreshAt: r.body.nextRefreshAt ? Date.parse(r.body.nextRefreshAt) : null,
        expiresAt: r.body.expiresAt ? Date.parse(r.body.expiresAt) : null,
      };
    },
  );
  const byId = new Map(conns.map((c) => [c.id, c]));
  daemon.labelFor = (id) => byId.get(id)?.label;
  say(
    `  ${ok} registered  ${conns.length} connections with POST /v1/connections, tokens living 4-8 s (${secs(Date.now() - t)})`,
  );
  say('');
  run.checkAbort();
  return conns;
}

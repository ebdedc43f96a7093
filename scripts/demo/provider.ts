// The fake provider: single-use refresh tokens with reuse detection, so a refresh done twice or a
// new token not stored shows at once; its admin API is how the demo revokes a grant.
import { FakeProvider } from '../../test/fakes/fake-provider.ts';
import type { Run } from './run.ts';
import { ACCESS_TTL_S } from './types.ts';
import type { Ui } from './ui.ts';

export async function startFakeProvider({ say, ok }: Ui, run: Run): Promise<FakeProvider> {
  const fake = new FakeProvider({
    persona: 'standard',
    rotation: 'always',
    reuseDetection: true,
    accessTtlSeconds: ACCESS_TTL_S,
    admin: true,
  });
  run.created.fake = fake;
  await fake.start();
  say(
    `  ${ok} provider    fake OAuth provider at ${fake.url}: single-use refresh tokens, ${ACCESS_TTL_S} s access tokens`,
  );
  return fake;
}

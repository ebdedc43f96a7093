// How a webhook URL is named outside the process: a hash to key on and a form safe to show
// (a URL may carry credentials in its userinfo or query). Pure.
import { createHash } from 'node:crypto';

export function endpointIdentity(url: string): { urlHash: string; display: string } {
  const urlHash = createHash('sha256').update(url, 'utf8').digest('hex');
  try {
    const u = new URL(url);
    return { urlHash, display: `${u.protocol}//${u.host}${u.pathname}` };
  } catch {
    return { urlHash, display: '(unparseable URL)' };
  }
}

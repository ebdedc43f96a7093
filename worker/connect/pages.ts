// The small HTML pages a person sees. Every value is escaped; no page ever shows a token, a code, a
// state or anything from the query string.

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(title: string, paragraphs: string[]): string {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n    ');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>${escapeHtml(title)}</title>
    <style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}h1{font-size:1.4rem}</style>
  </head>
  <body>
    <h1>${escapeHtml(title)}</h1>
    ${body}
  </body>
</html>
`;
}

const AGAIN = 'Go back to the app and start connecting again.';

/** What a refused link or callback page says, in words, with the next step. */
export function refusalPage(
  why: 'unknown' | 'used' | 'expired' | 'other_browser' | 'bad_request',
  providerName?: string,
): { title: string; html: string } {
  const who = providerName ? `your ${providerName} account` : 'your account';
  const texts: Record<typeof why, [string, string]> = {
    unknown: [
      'This link is not valid',
      `This sign-in link expired or was already used, so ${who} was not connected. ${AGAIN}`,
    ],
    used: ['This link was already used', `This link expired or was already used: nothing was changed. ${AGAIN}`],
    expired: ['This link expired', `This link expired or was already used, so ${who} was not connected. ${AGAIN}`],
    other_browser: [
      'Finish in the browser you started in',
      `This sign-in was started in another browser (or another tab started a newer one), so it cannot be finished here and nothing was changed. ${AGAIN}`,
    ],
    bad_request: [
      'This link is not valid',
      `This page was opened without the information it needs, so ${who} was not connected. ${AGAIN}`,
    ],
  };
  const [title, text] = texts[why];
  return { title, html: page(title, [text]) };
}

export function notConfiguredPage(): string {
  return page('Connecting is not set up', [
    'This service cannot connect accounts yet: its operator has to set PUBLIC_URL. Go back to the app and try again later.',
  ]);
}

export function notFoundPage(): string {
  return page('Page not found', ['There is nothing here. Go back to the app you came from.']);
}

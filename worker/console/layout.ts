// The console's page frame and its stylesheet (served as a file: the CSP allows no inline style).
import { html, type Html } from './html.ts';

export const CSS = `*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;color:#1d1d1f;background:#f6f7f9;line-height:1.45}
header{background:#1f2d3d;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
header a{color:#fff}
header .brand{font-weight:600;margin-right:auto}
header form{margin:0}
main{max-width:72rem;margin:1.2rem auto;padding:0 1.2rem}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #dde1e6;vertical-align:top}
th{background:#eef1f4;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.8rem 1rem;margin-bottom:1rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));gap:1rem}
.status-active{color:#1e6b34}
.status-needs_reauth{color:#a12a1f;font-weight:600}
.breaker-open,.breaker-half_open,.outage-holding,.outage-probing{color:#a12a1f;font-weight:600}
.diagnosis{border-left:4px solid #a12a1f}
.diagnosis.ok{border-left-color:#1e6b34}
.next{font-weight:600}
.muted{color:#555}
.error{color:#a12a1f;font-weight:600}
.legend span{margin-right:1rem}
.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
.sw-refreshes{background:#4a7bb7}.sw-failures{background:#d98b1e}.sw-needsReauth{background:#c0392b}
.spike-note{color:#a12a1f;font-weight:600}
form.filters{display:flex;flex-wrap:wrap;gap:.8rem;align-items:end;margin-bottom:1rem}
label{display:flex;flex-direction:column;font-size:.9rem;gap:.2rem}
input,select,button{font:inherit;padding:.3rem .5rem}
button{cursor:pointer;background:#1f4f8a;color:#fff;border:0;border-radius:4px;padding:.4rem .9rem}
header button{background:#44566b}
nav.pages{margin-top:.8rem;display:flex;gap:1rem}
.link{word-break:break-all;background:#fff8dc;padding:.5rem;border:1px solid #e0c97a}
svg.chart{display:block;margin:.4rem 0}
a{color:#1f4f8a}`;

export function layout(title: string, body: Html, signedIn = true): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>${title} - oauth-refresher console</title>
        <link rel="stylesheet" href="/console/console.css" />
      </head>
      <body>
        <header>
          <span class="brand">oauth-refresher console</span>${
            signedIn
              ? html`<nav aria-label="Console">
                    <a href="/console">Overview</a> · <a href="/console/connections">Connections</a>
                  </nav>
                  <form method="post" action="/console/sign-out"><button type="submit">Sign out</button></form>`
              : ''
          }
        </header>
        <main>
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html> `.text;
}

export function signInPage(refused: boolean): string {
  return layout(
    'Sign in',
    html`<form method="post" action="/console/sign-in" class="card">
      ${refused ? html`<p class="error" role="alert">That key was not accepted. Use a key from API_READ_KEYS or API_KEYS.</p>` : ''}
      <p>
        Enter an API key of this daemon (a read key is enough). It is checked once; the browser keeps only a signed
        session cookie, never the key.
      </p>
      <label for="key"
        >API key<input id="key" name="key" type="password" autocomplete="current-password" required
      /></label>
      <p><button type="submit">Sign in</button></p>
    </form>`,
    false,
  );
}

export function messagePage(title: string, text: string, signedIn = true): string {
  return layout(title, html`<p>${text}</p>`, signedIn);
}

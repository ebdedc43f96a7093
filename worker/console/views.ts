// The console's pages as pure functions of the values data.ts gathered. Every value goes through
// the html tag (escaped); nothing here can reach a token, a code or a secret: none is passed in.
import { isoShort, relative } from '../ops/format.ts';
import { chartSvg } from './chart.ts';
import { html, type Html } from './html.ts';
import { layout } from './layout.ts';
import type {
  ConnectionDetail,
  ConnectionList,
  ListFilter,
  Overview,
  ProviderHealth,
  ReconnectOffer,
} from './types.ts';

const when = (d: Date | null, now: number) =>
  d
    ? html`<time datetime="${d.toISOString()}">${isoShort(d)}</time> <span class="muted">(${relative(d, now)})</span>`
    : '-';
const statusCell = (s: string) => html`<span class="status-${s}">${s}</span>`;

export function listHref(f: Partial<ListFilter>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({
    status: f.status,
    provider: f.provider,
    q: f.search,
    reason: f.reason,
    page: f.page && f.page > 1 ? String(f.page) : undefined,
  })) {
    if (v) q.set(k, v);
  }
  const s = q.toString();
  return `/console/connections${s ? `?${s}` : ''}`;
}

function countsTable(ps: ProviderHealth[]): Html {
  const rows = ps.map(
    (p) =>
      html`<tr>
        <th scope="row">${p.displayName} <span class="muted">(${p.key})</span></th>
        <td class="num"><a href="${listHref({ provider: p.key, status: 'active' })}">${p.active}</a></td>
        <td class="num"><a href="${listHref({ provider: p.key, status: 'needs_reauth' })}">${p.needsReauth}</a></td>
        <td class="num">${p.active + p.needsReauth}</td>
      </tr>`,
  );
  const sum = (f: (p: ProviderHealth) => number) => ps.reduce((s, p) => s + f(p), 0);
  return html`<table id="counts">
    <caption class="muted">
      Connections by provider and status
    </caption>
    <thead>
      <tr>
        <th scope="col">Provider</th>
        <th scope="col" class="num">active</th>
        <th scope="col" class="num">needs_reauth</th>
        <th scope="col" class="num">total</th>
      </tr>
    </thead>
    <tbody>
      ${rows}
    </tbody>
    <tfoot>
      <tr>
        <th scope="row">All providers</th>
        <td class="num" id="total-active">${sum((p) => p.active)}</td>
        <td class="num" id="total-needs-reauth">${sum((p) => p.needsReauth)}</td>
        <td class="num">${sum((p) => p.active + p.needsReauth)}</td>
      </tr>
    </tfoot>
  </table>`;
}

function providerCard(p: ProviderHealth): Html {
  const configured =
    p.configured === undefined ? 'no longer defined' : p.configured ? 'configured' : 'credentials missing';
  const load = p.inFlight === null ? 'not tracked here' : `${p.inFlight} in flight, ${p.waiting} waiting`;
  return html`<section class="card provider" aria-labelledby="p-${p.key}" data-provider="${p.key}">
    <h2 id="p-${p.key}">${p.displayName}</h2>
    <p>Breaker: <span class="breaker-${p.breaker}">${p.breaker}</span> · ${configured} · token requests: ${load}</p>
    <p>
      Outage hold: <span class="outage-${p.outage.state}">${p.outage.state}</span>
      ${p.outage.state === 'closed' ? '' : html` since ${p.outage.since ?? '?'} · ${p.outage.probes} probe(s) sent · next probe ${p.outage.nextProbeAt ?? '?'}`}
    </p>
    <p>
      Last credential error:
      ${p.lastError ? html`<code>${p.lastError.code}</code>${p.lastError.description ? html` - ${p.lastError.description}` : ''}` : 'none'}
    </p>
    ${chartSvg(p.displayName, p.hours, p.spikes.length > 0)}
    ${p.spikes.map((s) => html`<p class="spike-note">invalid_grant spike: ${s.group}: ${s.current} dead-grant answers (previous 24 h: ${s.previous}).</p>`)}
  </section>`;
}

/** Built-in providers nobody configured or uses would bury the ones that matter. */
const inUse = (p: ProviderHealth) =>
  p.configured !== false || p.active + p.needsReauth > 0 || p.breaker !== 'closed' || p.outage.state !== 'closed';

export function overviewPage(o: Overview): string {
  const shown = o.providers.filter(inUse);
  const idle = o.providers.filter((p) => !inUse(p)).map((p) => p.key);
  return layout(
    'Overview',
    html`${countsTable(shown)}
      ${idle.length ? html`<p class="muted" id="idle-providers">Not configured and without connections: ${idle.join(', ')}.</p>` : ''}
      <h2>Providers, last 24 hours</h2>
      <p class="legend muted">
        <span><span class="sw sw-refreshes"></span>refreshes</span>
        <span><span class="sw sw-failures"></span>failures</span>
        <span><span class="sw sw-needsReauth"></span>needs_reauth</span>
        <span
          >▼ hours with dead-grant answers, when an invalid_grant spike is flagged (as in <code>ops report</code>)</span
        >
      </p>
      <div class="grid">${shown.map(providerCard)}</div>`,
  );
}

function select(name: string, label: string, choices: string[], current: string | undefined): Html {
  return html`<label for="f-${name}"
    >${label}<select id="f-${name}" name="${name}">
      <option value="">any</option>
      ${choices.map((c) => html`<option value="${c}" ${c === current ? html` selected` : ''}>${c}</option>`)}
    </select></label
  >`;
}

export function connectionsPage(l: ConnectionList, now: number): string {
  const f = l.filter;
  const pages = Math.max(1, Math.ceil(l.total / l.pageSize));
  const first = l.total === 0 ? 0 : (f.page - 1) * l.pageSize + 1;
  const rows = l.rows.map(
    (r) =>
      html`<tr>
        <td><a href="/console/connections/${r.id}">${r.externalId}</a></td>
        <td>${r.provider}</td>
        <td>${statusCell(r.status)}</td>
        <td class="num">${r.version}</td>
        <td>${r.status === 'active' ? when(r.nextRefreshAt, now) : '-'}</td>
        <td>${when(r.lastRefreshedAt, now)}</td>
        <td class="num">${r.consecutiveFailures}</td>
        <td>${r.problem}</td>
      </tr>`,
  );
  return layout(
    'Connections',
    html`<form method="get" action="/console/connections" class="filters" role="search">
        ${select('status', 'Status', ['active', 'needs_reauth'], f.status)}
        ${select('provider', 'Provider', l.providers, f.provider)}
        <label for="f-q"
          >External id contains<input id="f-q" name="q" value="${f.search ?? ''}" maxlength="200"
        /></label>
        ${select('reason', 'Re-authorization reason', l.reasons, f.reason)}
        <button type="submit">Filter</button> <a href="/console/connections">Clear</a>
      </form>
      <p id="result-count">
        ${l.total === 0 ? 'No connections match.' : `${first}-${first + l.rows.length - 1} of ${l.total} connections`}
      </p>
      ${
        l.rows.length
          ? html`<table id="connections">
              <thead>
                <tr>
                  <th scope="col">External id</th>
                  <th scope="col">Provider</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">Version</th>
                  <th scope="col">Next refresh</th>
                  <th scope="col">Last refresh</th>
                  <th scope="col" class="num">Failures</th>
                  <th scope="col">Problem</th>
                </tr>
              </thead>
              <tbody>
                ${rows}
              </tbody>
            </table>`
          : ''
      }
      <nav class="pages" aria-label="Pages">
        ${f.page > 1 ? html`<a href="${listHref({ ...f, page: f.page - 1 })}" rel="prev">Previous page</a>` : ''}<span
          >Page ${f.page} of ${pages}</span
        >${f.page < pages ? html`<a href="${listHref({ ...f, page: f.page + 1 })}" rel="next">Next page</a>` : ''}
      </nav>`,
  );
}

function reconnect(c: ConnectionDetail, offer: ReconnectOffer): Html {
  switch (offer.kind) {
    case 'hidden':
      return html`<p class="muted">Creating a reconnect link needs a key with token access.</p>`;
    case 'unavailable':
      return html`<p class="muted">${offer.why}</p>`;
    case 'failed':
      return html`<p class="error" role="alert">No link was created: ${offer.message}</p>`;
    case 'link':
      return html`<p>Send the user this reconnect link (valid until ${offer.expiresAt}; it works once):</p>
        <p class="link" id="reconnect-link">${offer.url}</p>`;
    case 'button':
      return html`<form method="post" action="/console/connections/${c.id}/reconnect">
        <button type="submit">Create a reconnect link</button>
      </form>`;
  }
}

function timeline(c: ConnectionDetail, now: number): Html {
  if (!c.attempts.length) return html`<p>No refresh attempts recorded.</p>`;
  const rows = c.attempts.map(
    (a) =>
      html`<tr>
        <td>${when(a.startedAt, now)}</td>
        <td>${a.trigger}</td>
        <td>${a.outcome ?? 'unfinished'}${a.uncertain ? ' (uncertain)' : ''}</td>
        <td class="num">${a.httpStatus ?? '-'}</td>
        <td>
          ${a.errorCode ? html`<code>${a.errorCode}</code>` : ''}${a.errorDescription ? html` ${a.errorDescription}` : ''}
        </td>
        <td class="num">
          v${a.versionBefore}${a.versionAfter !== null && a.versionAfter !== a.versionBefore ? ` → v${a.versionAfter}` : ''}
        </td>
        <td class="num">${a.durationMs ?? '-'}</td>
      </tr>`,
  );
  return html`<table id="attempts">
    <thead>
      <tr>
        <th scope="col">Started</th>
        <th scope="col">Trigger</th>
        <th scope="col">Outcome</th>
        <th scope="col" class="num">HTTP</th>
        <th scope="col">Error</th>
        <th scope="col" class="num">Version</th>
        <th scope="col" class="num">ms</th>
      </tr>
    </thead>
    <tbody>
      ${rows}
    </tbody>
  </table>`;
}

export function connectionPage(c: ConnectionDetail, offer: ReconnectOffer, now: number): string {
  const d = c.diagnosis;
  const ok = d.code === 'healthy' || d.handled;
  return layout(
    `${c.providerName} / ${c.externalId}`,
    html`<section class="card diagnosis${ok ? ' ok' : ''}" aria-labelledby="diag" id="diagnosis">
        <h2 id="diag">Diagnosis: ${d.headline}.</h2>
        ${
          d.details.length
            ? html`<ul>
                ${d.details.map((l) => html`<li>${l}</li>`)}
              </ul>`
            : ''
        }
        ${d.handled ? html`<p>Handled: yes, the daemon dealt with it; no data was lost.</p>` : ''}
        <p class="next" id="next-step">Next step: ${d.nextStep}</p>
        ${c.status === 'needs_reauth' ? reconnect(c, offer) : ''}
      </section>
      <h2>State</h2>
      <table id="state">
        <tbody>
          <tr>
            <th scope="row">Status</th>
            <td>
              ${statusCell(c.status)}${c.reauthReason ? ` (reason: ${c.reauthReason}, since ${isoShort(c.reauthAt)})` : ''}
            </td>
          </tr>
          <tr>
            <th scope="row">Connection id</th>
            <td><code>${c.id}</code></td>
          </tr>
          <tr>
            <th scope="row">Provider</th>
            <td>${c.providerName} (${c.provider})</td>
          </tr>
          <tr>
            <th scope="row">Version</th>
            <td>${c.version}</td>
          </tr>
          <tr>
            <th scope="row">Created</th>
            <td>${when(c.createdAt, now)}</td>
          </tr>
          <tr>
            <th scope="row">Last refresh</th>
            <td>${when(c.lastRefreshedAt, now)}</td>
          </tr>
          <tr>
            <th scope="row">Next refresh</th>
            <td>${c.status === 'active' ? when(c.nextRefreshAt, now) : 'none (waiting for the user to reconnect)'}</td>
          </tr>
          <tr>
            <th scope="row">Access token expires</th>
            <td>${when(c.expiresAt, now)}</td>
          </tr>
          <tr>
            <th scope="row">Refresh token expires</th>
            <td>${when(c.refreshExpiresAt, now)}</td>
          </tr>
          <tr>
            <th scope="row">Consecutive failures</th>
            <td>${c.consecutiveFailures}${c.failingSince ? html` (failing since ${isoShort(c.failingSince)})` : ''}</td>
          </tr>
          <tr>
            <th scope="row">Last error</th>
            <td>${c.lastError ?? 'none'}</td>
          </tr>
        </tbody>
      </table>
      ${
        c.connectFlow.length
          ? html`<h2>Connect flow</h2>
              <ul>
                ${c.connectFlow.map((l) => html`<li>${l}</li>`)}
              </ul>`
          : ''
      }
      <h2>Last attempts</h2>
      ${timeline(c, now)}`,
  );
}

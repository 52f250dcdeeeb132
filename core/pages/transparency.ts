import type { Config } from '../config/schema.ts';
import { html, type Html } from './html.ts';
import { layout, type Page } from './layout.ts';
import type { Site } from './site.ts';
import { categoryLabel } from './words.ts';
import { continueMinutesOf, quotaMinutesOf } from '../policy/defaults.ts';
import { loadHealthList } from '../policy/inspection.ts';

let healthHosts: string[] | null = null;
/** The shipped health list, read once (it changes only with a new release). */
function healthList(): string[] {
  healthHosts ??= loadHealthList();
  return healthHosts;
}

// What is recorded, why, for how long, and who may see it under what authorisation — generated
// from the live configuration so it cannot drift from what the system does. It holds no personal
// data: the same page for everyone.

const BANDS: Record<string, string> = { working: 'working hours', break: 'breaks', 'out-of-hours': 'outside working hours' };
const DAYS = ['', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

function days(n: number): string {
  if (n % 365 === 0) return `${n / 365} year${n === 365 ? '' : 's'}`;
  return `${n} day${n === 1 ? '' : 's'}`;
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** What policy.safeSearch does, in a sentence (empty when off for everyone). */
function safeSearchLine(config: Config): Html | '' {
  const ss = config.policy.safeSearch;
  const words = { strict: 'strict', moderate: 'moderate', off: 'off' } as const;
  const exceptions = Object.entries(ss.groups).filter(([, m]) => m !== ss.mode);
  if (ss.mode === 'off' && exceptions.length === 0) return '';
  return html`<p>Safe search is ${ss.mode === 'off' ? 'not enforced' : `enforced (${words[ss.mode]})`} on Google, Bing, DuckDuckGo and YouTube${exceptions.length ? `, except: ${list(exceptions.map(([g, m]) => `${g} ${m === 'off' ? 'not enforced' : words[m]}`))}` : ''}. This uses the addresses those services provide for it; nothing is opened or read.</p>`;
}

const PER: Record<'perHour' | 'perDay', string> = { perHour: 'in one hour', perDay: 'in one day' };

/** The thresholds of an alert rule in words, e.g. "10 in one hour or 30 in one day". */
function thresholds(perHour: number | null, perDay: number | null): string {
  return [perHour !== null ? `${perHour} ${PER.perHour}` : '', perDay !== null ? `${perDay} ${PER.perDay}` : ''].filter(Boolean).join(' or ');
}

/** What policy.alerts watches and who is told, from the live configuration (roles, never addresses). */
function alertsSection(config: Config, listed: ReadonlySet<string> | null): Html {
  const a = config.policy.alerts;
  const labels = (cats: readonly string[]) => {
    const shown = cats.filter((c) => !listed || listed.has(c));
    return shown.length ? list([...new Set(shown.map((c) => categoryLabel(config, c)))]) : '';
  };
  const groupLines = Object.entries(a.groups).map(([g, o]) => {
    if (!(o.enabled ?? a.enabled)) return `${g}: no alerts`;
    const cats = labels(o.categories ?? a.categories) || 'no category in the lists';
    return `${g}: ${cats}; ${thresholds(o.perHour === undefined ? a.perHour : o.perHour, o.perDay === undefined ? a.perDay : o.perDay)}`;
  });
  const main = a.enabled ? labels(a.categories) : '';
  if (!main && groupLines.length === 0) return html`<h2>Alerts</h2><p>No alerts are raised: nobody is told about anyone's blocked attempts until the routine audit.</p>`;
  const mail = a.notify.length
    ? `${a.notify.length === 1 ? 'One address the organisation designated (for safeguarding) is' : `${a.notify.length} addresses the organisation designated (for safeguarding) are`} sent an e-mail that an alert is waiting: it gives only the kind of site, the number of attempts and the time window, never a name, a pseudonym or a site.`
    : 'No e-mail is sent about alerts.';
  return html`<h2>Alerts</h2>
<p>Some kinds of site are serious enough that the organisation wants to know soon, not at the next audit, when someone keeps trying to reach them. ${main ? html`When one person's <strong>blocked</strong> attempts to reach ${main} reach ${thresholds(a.perHour, a.perDay)} (a clock hour, or a calendar day in ${config.organisation.timezone} time), an alert is raised.` : 'Alerts are raised only for the groups below.'}</p>
${groupLines.length ? html`<p>Groups with their own settings: ${groupLines.join('; ')}.</p>` : ''}
<ul>
<li>An alert names a <strong>pseudonym</strong>, the category, the number of attempts and the time window. It does not name you, the sites or the computer.</li>
<li>Who is told: the directors and the data protection officer see alerts in the console (every look is logged). IT support does not. ${mail}</li>
<li>An alert is not an accusation: a mistyped address or a link in a message looks the same. Finding out who it was needs an investigation, authorised as described under "Who may see it, and when"; otherwise a director dismisses the alert with a reason, which is logged.</li>
</ul>`;
}

export function transparencyPage(site: Site, config: Config, opts: { listedCategories?: ReadonlySet<string> | null } = {}): Page {
  const r = config.retention;
  const t = config.policy.time;
  const rules = config.policy.rules.filter((x) => x.action === 'block' || x.action === 'warn' || x.action === 'quota');
  const labels = (cats: string[]) => list([...new Set(cats.map((c) => categoryLabel(config, c)))]);
  const inspect = config.policy.inspect;
  const never = config.policy.neverInspect;
  const inspecting = inspect.categories.length > 0 || inspect.hosts.length > 0;
  const openedSites = list([...(inspect.categories.length ? [labels(inspect.categories)] : []), ...inspect.hosts]);
  const health = never.healthList ? healthList() : [];
  const neverSites = list([...never.categories.map((c) => categoryLabel(config, c)), ...never.hosts, ...(health.length ? ['health and medical services (listed below)'] : [])]) || 'nothing is excluded';
  const when = (bands: string[]) => bands.length === 3 ? 'at all times' : `in ${list(bands.map((b) => BANDS[b] ?? b))}`;
  const body = html`
<h1>What is recorded and why</h1>
<p>${site.orgName} provides internet access for work. Its internet and email policy says that every site visited or attempted, and every file sent or received, is recorded. This page explains what that means, from the settings the system is running with now.</p>

<h2>What is recorded</h2>
<ul>
<li>For every web request: the time, the site's name and the page's path${r.storeQueryStrings ? ' and the rest of the address (the query string)' : ' (not the rest of the address, which can hold personal details)'}, how much was sent and received, the type and name of any file, the category of the site, and whether it was allowed, warned, blocked or continued after a warning.</li>
<li>Who and which computer, as <strong>pseudonyms</strong>: codes made from your user name and the computer's address with a secret key kept outside the records. Records do not hold your name or your computer's address.</li>
<li>The content of pages, messages and forms is <strong>not</strong> recorded. ${inspecting ? 'Secure (HTTPS) sites are not opened, except the few listed below under "Secure sites", so that the rule on software downloads applies to them' : 'Secure (HTTPS) sites are not opened or read; only a site that is blocked is answered with a block page'}.</li>
<li>When you accept the acceptable-use statement, sign in on a shared computer, report an accidental visit or ask for an exception, that is recorded too.</li>
</ul>

<h2>Secure sites</h2>
${inspecting ? html`<p>Secure (HTTPS) connections to these sites are opened by the proxy with the organisation's own certificate, so the policy on files can be applied inside them: ${openedSites}. For these sites the path of each page and the type and name of each file are recorded, as for ordinary web pages; a software download without permission is blocked. Content is checked as it passes and not kept.</p>
<p>Every other secure site is <strong>not</strong> opened: only its name, the time and the amount of data are recorded.</p>` : html`<p>No secure (HTTPS) connection is opened: for secure sites only the name, the time and the amount of data are recorded.</p>`}
<p>Never opened, whatever else this page says: ${neverSites}.</p>
${health.length ? html`<details><summary>The health and medical services never opened (${health.length})</summary><p>${health.join(', ')}, and every address within them.</p></details>` : ''}
${inspecting ? html`<p>A device that does not have the organisation's certificate installed refuses the opened connection; from then on, for ${config.proxy.untrustedCaMinutes} minutes at a time, its secure connections are not opened at all (the first page may fail to load once). IT support sees a count of such devices, as pseudonyms, so it can install the certificate.</p>` : ''}

<h2>Why</h2>
<p>To apply the internet policy (some sites are never acceptable, some only in breaks), to keep the network and the people who use it safe, and to show, when a question is raised, what did and did not happen. The lawful basis is the organisation's legitimate interest in the security and proper use of its systems, as set out in the policy you accept.</p>

<h2>What the policy blocks or warns about</h2>
${rules.length === 0 ? html`<p>No categories are blocked or warned about at the moment.</p>` : html`<table>
<thead><tr><th scope="col">Sites</th><th scope="col">When</th><th scope="col">What happens</th><th scope="col">Policy</th></tr></thead>
<tbody>${rules.map((x) => html`<tr><td>${labels(x.categories)}</td><td>${when(x.bands)}</td><td>${x.action === 'block' ? 'blocked' : x.action === 'warn' ? `a warning page; continuing allows them for ${continueMinutesOf(x)} minutes` : `up to ${quotaMinutesOf(x)} minutes a day`}</td><td>${x.clause}</td></tr>`)}</tbody>
</table>`}
${safeSearchLine(config)}
<p>Working hours are ${t.workingHours.start}–${t.workingHours.end} on ${list(t.workingDays.map((d) => DAYS[d] ?? String(d)))}${t.breaks.length ? html`, with breaks ${list(t.breaks.map((b) => `${b.start}–${b.end}`))}` : ''} (${config.organisation.timezone} time). ${config.policy.softwareDownloads.clause}</p>

${alertsSection(config, opts.listedCategories ?? null)}

<h2>How long it is kept</h2>
<table>
<tbody>
<tr><th scope="row">Records of each visit</th><td>${days(r.eventsDays)}, then deleted automatically</td></tr>
<tr><th scope="row">Alerts (pseudonym, category, counts)</th><td>${days(r.eventsDays)} after their time window, like the records they count</td></tr>
<tr><th scope="row">Daily and hourly totals</th><td>${days(r.rollupsDays)}</td></tr>
<tr><th scope="row">Audit and spot-check reports (stored encrypted)</th><td>${days(r.reportsDays)}</td></tr>
<tr><th scope="row">The log of who looked at what</th><td>kept permanently, so every look can be checked</td></tr>
</tbody>
</table>

<h2>Who may see it, and when</h2>
<ul>
<li><strong>Nobody watches one person's browsing as a matter of routine.</strong> Routine checks are audits and spot checks of totals and pseudonyms, run by IT support.</li>
<li>IT support may read a report only when a director has approved their request, for a limited time.</li>
<li>A director may look at one named person's records only when investigating a specific allegation of misconduct, for a stated time window, and the authorisation expires${config.console.fourEyes ? '; a second director or the data protection officer must approve it first' : ''}.</li>
<li>Every look, export, approval and refusal is written to a tamper-evident log.</li>
</ul>

<h2>Your rights</h2>
<p>You can ask to see the records held about you, and ask questions about this monitoring: contact ${site.contact}. If you reach an unsuitable site by accident, use the "I reached this by accident" button on the block page: the report is recorded with the visit.</p>
<p class="hint">Acceptable-use statement version ${config.aup.version}.</p>
`;
  return layout({ site, title: 'What is recorded and why', body });
}

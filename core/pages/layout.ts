import { html, raw, safeHref, type Html } from './html.ts';
import { originOf, staffUrl, type Site } from './site.ts';
import { PAGE_CSS, PAGE_CSS_HASH } from './style.ts';

// The shell of every staff page: organisation name and logo, one heading, the content, and a footer
// that always links to the transparency page. No script anywhere; the policy forbids any.

export interface Page {
  status: number;
  title: string;
  html: string;
  /** Content-Security-Policy for this page */
  csp: string;
}

export interface LayoutInput {
  site: Site;
  title: string;
  body: Html;
  status?: number;
  /** origins forms on this page may submit to (and be redirected to) besides the console */
  formOrigins?: string[];
}

export const STAFF_CSS_PATH = '/static/staff.css';

export function buildCsp(site: Site, formOrigins: string[] = [], mode: 'inline' | 'link' = 'inline'): string {
  const consoleOrigin = originOf(site.consoleUrl);
  const logoOrigin = site.logoUrl ? originOf(site.logoUrl) : null;
  const forms = [...new Set([consoleOrigin, ...formOrigins.map(originOf)].filter((o): o is string => !!o))];
  return [
    "default-src 'none'",
    mode === 'inline' ? `style-src '${PAGE_CSS_HASH}'` : `style-src ${consoleOrigin ?? "'self'"}`,
    `img-src ${logoOrigin ?? "'none'"}`,
    `form-action 'self'${forms.length ? ' ' + forms.join(' ') : ''}`,
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function layout(input: LayoutInput): Page {
  const { site } = input;
  const doc = html`<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${input.title} – ${site.orgName}</title>
${!site.linkedStyle ? html`<style>${raw(PAGE_CSS)}</style>` : html`<link rel="stylesheet" href="${site.consoleUrl}${STAFF_CSS_PATH}">`}
</head>
<body>
<header class="org">${site.logoUrl ? html`<img src="${safeHref(site.logoUrl)}" alt="">` : ''}<span class="name">${site.orgName}</span></header>
<main>
${input.body}
</main>
<footer>
<a href="${staffUrl(site, 'transparency')}">What is recorded and why</a>${site.policyUrl ? html`<a href="${safeHref(site.policyUrl)}">Internet and email policy</a>` : ''}<a href="${staffUrl(site, 'aup')}">Acceptable-use statement</a>
</footer>
</body>
</html>
`;
  return { status: input.status ?? 200, title: input.title, html: doc.text, csp: buildCsp(site, input.formOrigins, site.linkedStyle ? 'link' : 'inline') };
}

/**
 * Response headers for a page: no caching (tokens), no framing, and no referrer to other sites
 * (tokens travel in URLs). Same-origin, not no-referrer: under no-referrer browsers send
 * `Origin: null` with form posts, which the console rightly refuses as cross-origin.
 */
export function pageHeaders(page: Page): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': page.csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'content-length': String(Buffer.byteLength(page.html)),
  };
}

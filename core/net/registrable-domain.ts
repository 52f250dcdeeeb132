// The registrable domain of a host ("bbc.co.uk" for news.bbc.co.uk and www.bbc.co.uk): reports group
// a site's many host names as one line by it, and the proxy tells domain fronting by it. No public-suffix
// package (tldts, psl) is installed, so this is deliberately small: the last two labels, or the
// last three under one of the multi-label suffixes below (those common for the organisations
// fairwatch serves). A host under a suffix missing here groups one level too high (for example
// "a.example.nhs.scot" reads as "nhs.scot"); extend MULTI_LABEL_SUFFIXES when that matters.

export const MULTI_LABEL_SUFFIXES: ReadonlySet<string> = new Set([
  // United Kingdom
  'co.uk', 'org.uk', 'ac.uk', 'gov.uk', 'nhs.uk', 'police.uk', 'sch.uk', 'me.uk', 'ltd.uk', 'plc.uk', 'net.uk', 'mod.uk',
  // Ireland, Australia, New Zealand
  'gov.ie', 'com.au', 'net.au', 'org.au', 'edu.au', 'gov.au', 'co.nz', 'org.nz', 'govt.nz', 'ac.nz',
  // elsewhere, frequent in everyday browsing
  'co.jp', 'co.za', 'org.za', 'gov.za', 'com.br', 'com.cn', 'com.hk', 'co.in', 'co.kr', 'com.mx', 'com.sg', 'com.tr',
  // shared hosting where each customer's name is its own site
  'github.io', 'blogspot.com', 'azurewebsites.net', 'cloudfront.net', 'herokuapp.com', 'pages.dev', 'netlify.app', 'vercel.app',
]);

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The registrable domain of a host name; addresses (IPv4, IPv6) and single labels are returned as they are. */
export function registrableDomain(host: string): string {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  if (h === '' || IPV4.test(h) || h.includes(':') || h.startsWith('[')) return h;
  const labels = h.split('.');
  if (labels.length <= 2) return h;
  const lastTwo = labels.slice(-2).join('.');
  return MULTI_LABEL_SUFFIXES.has(lastTwo) ? labels.slice(-3).join('.') : lastTwo;
}

// The registrable part of a host name ("example.co.uk" for "www.example.co.uk"), for telling
// whether two names belong to one site. A short list of common multi-label public suffixes rather
// than the whole public suffix list: used where a wrong answer only refuses or flags a tunnel
// whose two names already differ, never to allow one.

const MULTI = new Set([
  'co.uk', 'org.uk', 'ac.uk', 'gov.uk', 'nhs.uk', 'sch.uk', 'ltd.uk', 'plc.uk', 'me.uk', 'net.uk', 'police.uk',
  'com.au', 'net.au', 'org.au', 'edu.au', 'gov.au', 'co.nz', 'org.nz', 'co.za', 'co.jp', 'ne.jp', 'or.jp',
  'com.br', 'com.cn', 'com.mx', 'com.tr', 'co.in', 'co.kr', 'com.sg', 'com.hk', 'co.il', 'com.ar',
  'github.io', 'blogspot.com', 'cloudfront.net', 'herokuapp.com', 'azurewebsites.net', 'appspot.com', 'pages.dev', 'netlify.app', 'vercel.app',
]);

export function registrableDomain(host: string): string {
  const labels = host.toLowerCase().replace(/\.$/, '').split('.');
  if (labels.length <= 2) return labels.join('.');
  const lastTwo = labels.slice(-2).join('.');
  return MULTI.has(lastTwo) ? labels.slice(-3).join('.') : lastTwo;
}

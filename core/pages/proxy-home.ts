import { html, safeHref } from './html.ts';
import { layout, type Page } from './layout.ts';
import { staffUrl, type Site } from './site.ts';

// What the proxy answers about itself (as Squid answers its internal URLs): at the reserved name
// http://fairwatch.internal/ through the proxy, or at the proxy's own address. Where the console
// is, and the organisation's certificate for devices that do not have it yet.

export function proxyHomePage(site: Site, hasCa: boolean): Page {
  const body = html`<h1>The ${site.orgName} web proxy</h1>
<p>This computer's web traffic goes through the organisation's proxy, which applies the internet policy and records visits as the policy explains.</p>
<ul>
<li><a href="${safeHref(site.consoleUrl)}">The console</a>: the acceptable-use statement, your own record requests, and for managers the approvals.</li>
<li><a href="${staffUrl(site, 'transparency')}">What is recorded and why</a>.</li>
${hasCa ? html`<li><a href="/ca.crt">The organisation's certificate</a> (<code>ca.crt</code>): installed on a device, it lets secure sites show the organisation's pages (a block page instead of a browser error). IT installs it; ask them if secure sites fail here.</li>` : ''}
</ul>`;
  return layout({ site, title: 'Web proxy', body });
}

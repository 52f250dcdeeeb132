import type { Config } from '../config/schema.ts';
import { PageTokens } from '../identity/page-token.ts';
import { aupRequiredPage, blockPage, signInRequiredPage } from './block.ts';
import type { Page } from './layout.ts';
import { siteFromConfig, staffUrl, type Site } from './site.ts';
import { warnPage } from './warn.ts';
import { categoryLabel } from './words.ts';
import { continueMinutesOf } from '../policy/defaults.ts';

// What the proxy calls to answer a request with a staff page: it knows the event, the person's
// pseudonym and the decision; this issues the signed links and renders. Pure apart from the clock
// and the token nonce; no I/O.

export interface PageEvent {
  eventId: string;
  at: Date;
  /** scheme://host[:port]/path — no query string */
  url: string;
  host: string;
  userPseudonym: string;
  group: string;
}

/** The host of the page being visited: the only site a `return` link from the console may go to. */
function returnHost(ev: { url: string; host?: string }): string {
  try {
    return new URL(ev.url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return (ev.host ?? '').toLowerCase();
  }
}

export class StaffPages {
  readonly site: Site;
  constructor(readonly config: Config, readonly tokens: PageTokens, consoleUrl: string) {
    this.site = siteFromConfig(config, consoleUrl);
  }

  block(ev: PageEvent, d: { category: string; rule: string; reason: string; signature?: string }): Page {
    const claims = { eventId: ev.eventId, pseudonym: ev.userPseudonym, category: d.category, host: ev.host, rule: d.rule, group: ev.group };
    return blockPage({
      site: this.site, eventId: ev.eventId, at: ev.at, url: ev.url, categoryLabel: categoryLabel(this.config, d.category), rule: d.rule, clause: d.reason, signature: d.signature,
      links: {
        exception: staffUrl(this.site, 'requestException', { t: this.tokens.issue({ purpose: 'exception', ...claims }) }),
        accident: staffUrl(this.site, 'reportAccident', { t: this.tokens.issue({ purpose: 'accident', ...claims }) }),
      },
    });
  }

  warn(ev: PageEvent, d: { category: string; rule: string; reason: string; continueMinutes?: number }): Page {
    const minutes = continueMinutesOf(d);
    const token = this.tokens.issue({ purpose: 'continue', eventId: ev.eventId, pseudonym: ev.userPseudonym, category: d.category, host: ev.host, rule: d.rule, group: ev.group, minutes });
    return warnPage({ site: this.site, eventId: ev.eventId, at: ev.at, url: ev.url, categoryLabel: categoryLabel(this.config, d.category), clause: d.reason, minutes, token });
  }

  /** Plain HTTP and the statement not accepted: where to send the browser (302 Location). */
  aupLocation(ev: PageEvent): string {
    return staffUrl(this.site, 'aup', { t: this.tokens.issue({ purpose: 'aup', eventId: ev.eventId, pseudonym: ev.userPseudonym, group: ev.group, host: returnHost(ev) }), return: ev.url });
  }

  /** HTTPS and the statement not accepted: the page served over the block-page TLS. */
  aupRequired(ev: PageEvent): Page {
    return aupRequiredPage({ site: this.site, eventId: ev.eventId, at: ev.at, url: ev.url, link: this.aupLocation(ev) });
  }

  /**
   * Sign-in networks: where to send an unidentified browser. The token names the device (not a
   * person) and the site to return to; the console accepts it once, from that device only.
   */
  signInLocation(ev: Omit<PageEvent, 'userPseudonym' | 'group'>, clientPseudonym: string): string {
    return staffUrl(this.site, 'signIn', { t: this.tokens.issue({ purpose: 'sign-in', eventId: ev.eventId, pseudonym: clientPseudonym, host: returnHost(ev) }), return: ev.url });
  }

  signInRequired(ev: Omit<PageEvent, 'userPseudonym' | 'group'>, clientPseudonym: string): Page {
    return signInRequiredPage({ site: this.site, eventId: ev.eventId, at: ev.at, url: ev.url, link: this.signInLocation(ev, clientPseudonym) });
  }
}

import type { Config } from '../config/schema.ts';

// What every staff page needs to know about the organisation and where the console is, taken from
// the live config. The console URL is passed in because its port is only known once it listens.

export interface Site {
  orgName: string;
  timezone: string;
  contact: string;
  /** absolute URL of the logo, or undefined */
  logoUrl?: string;
  policyUrl?: string;
  /** the console as staff browsers reach it, without a trailing slash */
  consoleUrl: string;
  /**
   * How the stylesheet arrives: inline (a <style> allowed by its hash) for pages the proxy serves on
   * a site's own origin, where the console may be unreachable or plain HTTP under HTTPS; linked
   * (the console's /static/staff.css) for pages the console serves under its own policy.
   */
  linkedStyle?: boolean;
}

export function consoleUrlFromConfig(config: Config, listeningPort?: number): string {
  if (config.console.publicUrl) return config.console.publicUrl.replace(/\/+$/, '');
  const host = config.console.bind === '0.0.0.0' || config.console.bind === '::' ? '127.0.0.1' : config.console.bind;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listeningPort ?? config.console.port}`;
}

export function siteFromConfig(config: Config, consoleUrl: string): Site {
  const base = consoleUrl.replace(/\/+$/, '');
  const logo = config.organisation.logoUrl;
  return {
    orgName: config.organisation.name,
    timezone: config.organisation.timezone,
    contact: config.organisation.contact,
    logoUrl: logo ? (logo.startsWith('/') ? base + logo : logo) : undefined,
    policyUrl: config.organisation.policyUrl,
    consoleUrl: base,
  };
}

/** Where the staff routes live on the console (dashboards/staff-pages.ts serves them). */
export const STAFF_PATHS = {
  transparency: '/transparency',
  aup: '/aup',
  signIn: '/sign-in',
  signOut: '/sign-out',
  requestException: '/request-exception',
  reportAccident: '/report-accident',
  continue: '/continue',
} as const;

export function staffUrl(site: Site, path: keyof typeof STAFF_PATHS, query: Record<string, string | undefined> = {}): string {
  const u = new URL(site.consoleUrl + STAFF_PATHS[path]);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') u.searchParams.set(k, v);
  return u.href;
}

// Building a DateTimeFormat is costly next to formatting with one (bench/pages.ts): one per zone.
const formatters = new Map<string, Intl.DateTimeFormat>();
export function formatWhen(at: Date, timezone: string): string {
  let f = formatters.get(timezone);
  if (!f) formatters.set(timezone, (f = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, dateStyle: 'full', timeStyle: 'medium' })));
  return f.format(at);
}

export function originOf(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
}

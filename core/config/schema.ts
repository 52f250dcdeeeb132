import cron from 'node-cron';
import { z } from 'zod';
import { ldapSchema } from './ldap-schema.ts';
import { isValidCidr } from '../net/cidr.ts';
import { normaliseHost } from '../policy/host.ts';
import { DEFAULT_AUTH_CACHE_SECONDS, DEFAULT_REDIS_MAX_MEMORY_MB } from './defaults.ts';

// The whole configuration shape. Every object is strict so a misspelt key is an error that names
// it, never a silently ignored setting. Defaults encode a typical UK charity; see
// fairwatch.example.yaml for the commented version.

const cidr = z.string().refine(isValidCidr, { message: 'expected a CIDR such as 192.168.1.0/24 or an IP address' });
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time as HH:MM (24-hour)');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD');
const port = z.number().int().min(1).max(65535);
/** a listening port; 0 picks a free one (tests) */
const listenPort = z.number().int().min(0).max(65535);
const timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, { message: 'expected an IANA time zone such as Europe/London' });

export const organisationSchema = z.strictObject({
  name: z.string().min(1).default('Our organisation'),
  timezone: timezone.default('Europe/London'),
  /** shown on staff pages; an https URL or a path under the console */
  logoUrl: z.string().optional(),
  /** where the full acceptable-use policy lives, linked from every page */
  policyUrl: z.string().optional(),
  /** who staff contact with questions (shown on the transparency page) */
  contact: z.string().default('your manager or the director'),
}).prefault({});

export const proxySchema = z.strictObject({
  bind: z.string().default('127.0.0.1'),
  port: listenPort.default(3128),
  /** worker threads serving the port (SO_REUSEPORT), in one worker process; 0 = one per CPU */
  workers: z.number().int().min(0).max(64).default(0),
  clientNetworks: z.array(cidr).default(['127.0.0.0/8']),
  /** CIDRs or host names reachable although private or loopback */
  allowDestinations: z.array(z.string().min(1)).default([]),
  connectPorts: z.array(port).default([443]),
  /** tunnels to these ports must carry TLS whose server name belongs to the CONNECT host (anti-bypass) */
  tlsPorts: z.array(port).default([443]),
  /** X-Forwarded-For leaks the client address to every site: off unless asked for */
  forwardedFor: z.boolean().default(false),
  idleTimeoutSeconds: z.number().int().min(1).default(300),
  upstreamTimeoutSeconds: z.number().int().min(1).default(30),
  maxHeaderBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
  /** a hosts-format file whose names resolve from it before DNS (Squid's hosts_file) */
  hostsFile: z.string().min(1).optional(),
  /** minutes a client whose TLS alert said it does not trust the organisation CA has its tunnels spliced, not inspected */
  untrustedCaMinutes: z.number().int().min(1).max(10_080).default(60),
  /** a PEM file of extra certificate authorities trusted for origins of inspected tunnels (besides the system's) */
  upstreamCaFile: z.string().min(1).optional(),
  /**
   * requests to a bare IP address (CONNECT and plain http:// URLs, however the address is written):
   * category lists name sites, so an address bypasses them. refuse, allow, or the CIDRs allowed
   */
  ipTunnels: z.union([z.enum(['refuse', 'allow']), z.array(cidr)]).default('refuse'),
  /** a second listener where clients speak TLS to the proxy (an HTTPS proxy); unset = none */
  tlsPort: listenPort.optional(),
  /** names and addresses in the TLS listener's certificate minted from the organisation CA; default: the proxy's address as the PAC file names it */
  tlsNames: z.array(z.string().min(1)).default([]),
  /** PEM certificate (chain) and key for the TLS listener instead of one minted from the organisation CA */
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  /** a TLS client that has not finished its handshake after this long is disconnected */
  tlsHandshakeSeconds: z.number().int().min(1).max(120).default(10),
}).refine((p) => (p.tlsCert === undefined) === (p.tlsKey === undefined), {
  message: 'proxy.tlsCert and proxy.tlsKey go together: set both (a certificate and its key) or neither',
  path: ['tlsCert'],
}).prefault({});

const claimName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_:.-]{0,99}$/, 'expected a claim name such as groups, roles or email');

/** One OpenID Connect provider for console and shared-computer sign-in (docs/operators/sign-in-*.md). */
export const oidcProviderSchema = z.strictObject({
  /** short name in URLs (/auth/oidc/<id>/callback) and in audit rows */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'provider ids are 1-32 lower case letters, digits and -'),
  /** the button reads "Sign in with <displayName>" */
  displayName: z.string().min(1).max(60),
  /** the issuer; its /.well-known/openid-configuration is read at start. https only */
  issuer: z.string().url().refine((u) => u.startsWith('https://'), { message: 'the issuer must be an https:// URL' }),
  clientId: z.string().min(1),
  /** the client secret, or clientSecretEnv naming the environment variable that holds it */
  clientSecret: z.string().min(1).optional(),
  clientSecretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name').optional(),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope is one word')).default(['openid', 'profile', 'email'])
    .refine((s) => s.includes('openid'), { message: 'scopes must include openid' }),
  /** the claim that names the person; becomes the fairwatch user name on first sign-in */
  usernameClaim: claimName.default('email'),
  /** the claim whose values are looked up in `roles` (Entra app roles: roles) */
  roleClaim: claimName.default('roles'),
  /** the claim whose values are looked up in `groups` (Entra: groups; Google: hd or email) */
  groupClaim: claimName.default('groups'),
  /** claim value → console role; a console sign-in with no match is refused */
  roles: z.record(z.string().min(1), z.enum(['director', 'dpo', 'it'])).default({}),
  /** claim value → fairwatch group (policy.groups), first match in this order */
  groups: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** the group when no group claim matched; unset: shared-computer sign-in without a match is refused */
  defaultGroup: z.string().min(1).optional(),
  /** the user name's domain must be one of these (empty: any) */
  allowedDomains: z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, 'expected a lower case domain such as example.org')).default([]),
  /** claims that must carry exactly this value, e.g. { tid: <tenant id> } for Entra, { hd: example.org } for Google */
  requireClaims: z.record(claimName, z.string().min(1)).default({}),
  /**
   * hosts an unidentified browser on a sign-in network may reach (HTTPS) so the provider's own
   * sign-in page loads there; the issuer's host is always included
   */
  signInHosts: z.array(z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, 'expected a lower case host name such as login.microsoftonline.com')).default([]),
  /** a PEM file of the CA behind the provider's certificate, when it is not a public one (an on-site provider) */
  caFile: z.string().min(1).optional(),
}).refine((p) => !!p.clientSecret !== !!p.clientSecretEnv, { message: 'give exactly one of clientSecret and clientSecretEnv' });

/**
 * SCIM 2.0 provisioning (RFC 7643/7644) at /scim/v2: the OpenID provider's directory (Entra ID's
 * automatic user provisioning) pushes starters, changes and leavers (docs/operators/sign-in-entra-id.md).
 */
export const scimSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** the identity.oidc provider whose people these are: a SCIM user and that provider's sign-in are one record */
  provider: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'expected the id of a provider in identity.oidc'),
  /** environment variable holding the bearer token itself (takes precedence over tokenHashFile) */
  tokenEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name').default('FAIRWATCH_SCIM_TOKEN'),
  /** file holding the token's SHA-256 (`fairwatch users scim-token` writes it); default <data dir>/keys/scim-token.sha256 */
  tokenHashFile: z.string().min(1).optional(),
  /** SCIM group displayName or externalId → fairwatch group (policy.groups), first match in this order */
  groups: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** the group of a SCIM user in no mapped group; default policy.defaultGroup */
  defaultGroup: z.string().min(1).optional(),
  /** at most this many changes (creates, updates, disables) a minute; more are answered 429 */
  maxChangesPerMinute: z.number().int().min(1).max(10_000).default(600),
});

export const identitySchema = z.strictObject({
  /** OpenID Connect providers for the console and the shared-computer sign-in page */
  oidc: z.array(oidcProviderSchema).default([])
    .refine((list) => new Set(list.map((p) => p.id)).size === list.length, { message: 'two providers share an id' }),
  /** unidentified clients here get the `guests` group */
  guestNetworks: z.array(cidr).default([]),
  /** unidentified clients here are sent to the console sign-in page */
  signInNetworks: z.array(cidr).default([]),
  /** hours a sign-in binds the client address to the person */
  signInHours: z.number().min(0.25).max(24).default(8),
  /** client IP → user name, for fixed desktops */
  ipUsers: z.record(z.string().refine((s) => isValidCidr(s) && !s.includes('/'), { message: 'expected an IP address as the key' }), z.string().min(1)).default({}),
  /** a successful Basic check is remembered this long (argon2 verify is deliberately slow) */
  authCacheSeconds: z.number().int().min(0).max(3600).default(DEFAULT_AUTH_CACHE_SECONDS),
  /** proxy sign-in with an LDAP directory or Active Directory (docs/operators/sign-in-active-directory.md) */
  ldap: ldapSchema.optional(),
  /** starters and leavers pushed by the OpenID provider's directory over SCIM 2.0 */
  scim: scimSchema.optional(),
}).prefault({});

export const retentionSchema = z.strictObject({
  eventsDays: z.number().int().min(1).max(3650).default(90),
  rollupsDays: z.number().int().min(1).max(3650).default(396),
  reportsDays: z.number().int().min(1).max(3650).default(730),
  /** query strings carry personal data: off by default */
  storeQueryStrings: z.boolean().default(false),
}).prefault({});

export const pipelineSchema = z.strictObject({
  stream: z.string().min(1).default('fairwatch:events'),
  batchRows: z.number().int().min(1).max(1_000_000).default(50_000),
  batchMs: z.number().int().min(10).max(60_000).default(1000),
  spoolMaxMB: z.number().int().min(1).default(1024),
  /** a stream write not answered within this goes to the disk spool instead (browsing never waits) */
  writeTimeoutMs: z.number().int().min(50).max(60_000).default(1000),
  /** entries a dead ingester left unacknowledged this long are claimed by a live one */
  claimIdleSeconds: z.number().int().min(1).max(86_400).default(30),
  /** longest wait between insert retries while ClickHouse is down */
  retryMaxSeconds: z.number().int().min(1).max(3600).default(30),
  /** memory limit of the managed redis-server (noeviction: past it Redis refuses writes, never evicts events) */
  redisMaxMemoryMB: z.number().int().min(2).max(1_048_576).default(DEFAULT_REDIS_MAX_MEMORY_MB),
}).prefault({});

export const consoleSchema = z.strictObject({
  bind: z.string().default('127.0.0.1'),
  port: listenPort.default(8080),
  /** the address staff browsers use to reach the console (block-page links); default http://bind:port */
  publicUrl: z.string().url().optional(),
  sessionIdleMinutes: z.number().int().min(1).default(30),
  sessionMaxHours: z.number().int().min(1).default(12),
  /** a second director (or the DPO) must approve before an investigation opens */
  fourEyes: z.boolean().default(false),
  smtp: z.strictObject({
    url: z.string().min(1),
    from: z.string().min(3),
    to: z.array(z.string().min(3)).min(1),
    /** name-free figures after each scheduled audit and spot check (default on) */
    summaries: z.boolean().optional(),
    /** where those summaries go (default: to) */
    summaryTo: z.array(z.string().min(3)).min(1).optional(),
  }).optional(),
}).prefault({});

const band = z.strictObject({ start: hhmm, end: hhmm })
  .refine((b) => b.start < b.end, { message: 'start must be before end (a band cannot cross midnight)' });

export const timeSchema = z.strictObject({
  /** 1 = Monday … 7 = Sunday */
  workingDays: z.array(z.number().int().min(1).max(7)).default([1, 2, 3, 4, 5]),
  workingHours: band.default({ start: '09:00', end: '17:00' }),
  breaks: z.array(band).default([{ start: '12:30', end: '13:30' }]),
  /** dates treated as out of hours all day */
  bankHolidays: z.array(isoDate).default([]),
}).prefault({});

export const bandName = z.enum(['working', 'break', 'out-of-hours']);
export const actionName = z.enum(['allow', 'block', 'warn', 'quota', 'log']);

export const ruleSchema = z.strictObject({
  /** a short stable name shown as rule:<id> (default: the rule's position, 1-based) */
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'rule ids are letters, digits, . _ and -').optional(),
  /** group names, or ['*'] for everyone */
  groups: z.array(z.string().min(1)).min(1).default(['*']),
  categories: z.array(z.string().min(1)).min(1),
  /** bands the rule applies in; default all */
  bands: z.array(bandName).min(1).default(['working', 'break', 'out-of-hours']),
  action: actionName,
  /** the policy sentence this rule enforces, shown on block pages and in reports */
  clause: z.string().min(1),
  /** warn: minutes a "continue" allows the category */
  continueMinutes: z.number().int().min(1).max(1440).optional(),
  /** quota: minutes per day per category */
  quotaMinutesPerDay: z.number().int().min(1).max(1440).optional(),
});

const categoryName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected a category name as in the blocklists folder (letters, digits, . _ -)');
/** a host name or IP address as written in a list: matches it and every subdomain */
const inspectHost = z.string().transform((raw, ctx) => {
  const h = normaliseHost(raw.replace(/^\*?\./, ''));
  if (!h) {
    ctx.addIssue({ code: 'custom', message: `"${raw.slice(0, 80)}" is not a host name (expected e.g. downloads.example.com; subdomains are included)` });
    return z.NEVER;
  }
  return h.host;
});

/** HTTPS tunnels opened with the organisation CA (so file rules and block pages apply inside). */
export const inspectSchema = z.strictObject({
  categories: z.array(categoryName).default(['download', 'filehosting']),
  hosts: z.array(inspectHost).default([]),
}).prefault({});

/** HTTPS tunnels never opened, whatever else says. */
export const neverInspectSchema = z.strictObject({
  categories: z.array(categoryName).default(['bank']),
  hosts: z.array(inspectHost).default([]),
  /** the shipped list of health and medical services (core/policy/never-inspect-health.txt) */
  healthList: z.boolean().default(true),
}).prefault({});

/** the serious categories alerts watch by default (UT1 names; a category absent from the lists never matches) */
export const DEFAULT_ALERT_CATEGORIES = ['adult', 'violence', 'aggressive', 'drugs', 'hacking', 'malware', 'phishing', 'stalkerware', 'vpn', 'proxy', 'doh'];
/** attempts (blocked requests) in one clock hour or one local day; null: that window is not watched */
const attemptsThreshold = z.number().int().min(1).max(1_000_000).nullable();
const emailAddress = z.string().regex(/^[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+$/, 'expected an e-mail address such as safeguarding@example.org');

/** A group's own alert settings; what it leaves out comes from policy.alerts. */
export const alertGroupSchema = z.strictObject({
  enabled: z.boolean().optional(),
  categories: z.array(categoryName).min(1).optional(),
  perHour: attemptsThreshold.optional(),
  perDay: attemptsThreshold.optional(),
});

/**
 * Pseudonymous alerts (issue 19): a person whose blocked attempts in a serious category reach a
 * threshold within a clock hour or a local day raises one alert per category and window, shown to
 * directors and the DPO; the addresses in `notify` get an e-mail with no personal data.
 */
export const alertsSchema = z.strictObject({
  enabled: z.boolean().default(true),
  categories: z.array(categoryName).min(1).default(DEFAULT_ALERT_CATEGORIES),
  perHour: attemptsThreshold.default(10),
  perDay: attemptsThreshold.default(30),
  /** e-mail addresses told (no personal data in the mail); needs console.smtp for the server */
  notify: z.array(emailAddress).default([]),
  groups: z.record(z.string(), alertGroupSchema).default({}),
}).superRefine((a, ctx) => {
  if (a.enabled && a.perHour === null && a.perDay === null) {
    ctx.addIssue({ code: 'custom', path: ['perHour'], message: 'perHour and perDay are both null: set at least one threshold, or enabled: false' });
  }
  for (const [g, o] of Object.entries(a.groups)) {
    const on = o.enabled ?? a.enabled;
    if (on && (o.perHour === undefined ? a.perHour : o.perHour) === null && (o.perDay === undefined ? a.perDay : o.perDay) === null) {
      ctx.addIssue({ code: 'custom', path: ['groups', g], message: `group ${g}: perHour and perDay are both null: set one, or enabled: false` });
    }
  }
}).prefault({});

export const groupSchema = z.strictObject({
  description: z.string().default(''),
  /** e.g. software-download */
  permissions: z.array(z.string().min(1)).default([]),
});

export const policySchema = z.strictObject({
  groups: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'group names are lower case letters, digits, - and _'), groupSchema)
    .default({ staff: { description: 'Employees', permissions: [] }, volunteers: { description: 'Volunteers', permissions: [] }, managers: { description: 'Managers', permissions: [] }, guests: { description: 'Visitors on the guest network', permissions: [] }, it: { description: 'IT support', permissions: ['software-download'] } }),
  /** group of a user created without --group */
  defaultGroup: z.string().default('staff'),
  time: timeSchema,
  /** plain-words names for categories shown to staff (category directory name → label) */
  categoryLabels: z.record(z.string(), z.string()).default({}),
  rules: z.array(ruleSchema).default([]),
  /**
   * How `host/path` entries in the lists' `urls` files and local/allow, local/deny match a request:
   * `squidguard` (default) as squidGuard does, the entry a string prefix of host/path?query on that
   * host (or its www. form); `segment` fairwatch's stricter rule, whole path segments on the host
   * and its subdomains. docs/operators/policy.md "How list entries match" has the table.
   */
  urlMatching: z.enum(['squidguard', 'segment']).default('squidguard'),
  defaultAction: actionName.default('allow'),
  defaultClause: z.string().default('Internet use for work is allowed; personal use in breaks and outside working hours is fine.'),
  /** shown when a site is on the organisation's own blocklists/local/deny */
  localDenyClause: z.string().default('This site is blocked by the organisation.'),
  localAllowClause: z.string().default('This site is allowed by the organisation.'),
  /** executables and installers need the software-download permission */
  softwareDownloads: z.strictObject({
    clause: z.string().default('Software may not be downloaded or installed without permission.'),
    extensions: z.array(z.string()).default(['exe', 'msi', 'dmg', 'pkg', 'apk', 'bat', 'cmd', 'ps1', 'vbs', 'jar', 'iso']),
    /** response Content-Types that mean an executable or installer whatever the file name */
    mimeTypes: z.array(z.string()).default([
      'application/x-msdownload', 'application/x-msdos-program', 'application/x-dosexec', 'application/vnd.microsoft.portable-executable',
      'application/x-msi', 'application/x-ms-installer', 'application/x-apple-diskimage', 'application/vnd.apple.installer+xml',
      'application/x-newton-compatible-pkg', 'application/vnd.android.package-archive', 'application/java-archive',
      'application/x-java-archive', 'application/x-iso9660-image', 'application/x-bat', 'application/x-msbatch',
      'application/x-powershell', 'application/x-vbscript',
    ]),
  }).prefault({}),
  /** uploads larger than this are flagged in the event (and blocked when blockLargeUploads) */
  largeUploadMB: z.number().min(0.001).default(25),
  blockLargeUploads: z.boolean().default(false),
  inspect: inspectSchema,
  neverInspect: neverInspectSchema,
  /** search engines sent to their enforced safe-search addresses (no interception): off, moderate or strict, per group */
  safeSearch: z.strictObject({
    mode: z.enum(['off', 'moderate', 'strict']).default('off'),
    groups: z.record(z.string(), z.enum(['off', 'moderate', 'strict'])).default({}),
  }).prefault({}),
  alerts: alertsSchema,
}).prefault({});

export const aupSchema = z.strictObject({
  version: z.string().min(1).default('1'),
  text: z.string().min(1).default(
    'I have read the organisation\'s internet and email policy. I understand that all internet activity through this ' +
    'network, including sites visited or attempted and material transmitted or received, is recorded and may be used by ' +
    'management, and that breaches of the policy may lead to disciplinary action.'),
}).prefault({});

export const analyserSchema = z.strictObject({
  /** node-cron expressions in organisation.timezone */
  schedules: z.strictObject({
    nightlyAudit: z.string().default('15 1 * * *'),
    weeklyAudit: z.string().default('30 1 * * 1'),
    monthlyAudit: z.string().default('45 1 1 * *'),
    spotCheck: z.string().default('0 2 * * 1'),
  }).prefault({}),
  spotCheckSampleSize: z.number().int().min(1).max(1000).default(5),
  spotCheckWindowHours: z.number().int().min(1).max(168).default(8),
  /** minutes of silence that end a browsing session when estimating time online */
  sessionGapMinutes: z.number().min(1).max(120).default(5),
  /** minimum minutes credited to a session, however short */
  sessionMinimumMinutes: z.number().min(0).max(60).default(1),
  /** share of working time online for personal categories that a spot check flags */
  personalUseThresholdPercent: z.number().min(0).max(100).default(20),
  /** categories counted as personal use when a spot check measures personal use in working hours */
  personalCategories: z.array(z.string().min(1)).default(['social_networks', 'games', 'gambling', 'shopping', 'audio-video', 'dating', 'sports', 'radio', 'celebrity', 'chat', 'manga', 'cooking', 'astrology', 'jobsearch']),
  /** at most this many missed runs per job are caught up at start (the newest ones) */
  catchUpMax: z.number().int().min(0).max(400).default(31),
}).prefault({});

/** Deployment: how the store is laid out, where metrics are served, what the PAC file says. */
export const storageSchema = z.strictObject({
  /** ClickHouse cluster name (remote_servers): Replicated* tables + Distributed tables; unset = one server or embedded */
  cluster: z.string().regex(/^[A-Za-z0-9_]+$/, 'expected a cluster name from remote_servers (letters, digits, _)').optional(),
}).prefault({});

export const metricsSchema = z.strictObject({
  /** Prometheus /metrics (and /healthz) for each role process; unset = not served */
  port: listenPort.optional(),
  bind: z.string().default('127.0.0.1'),
}).prefault({});

export const pacSchema = z.strictObject({
  /** host:port of each proxy browsers should use, in order; default proxy.bind:proxy.port */
  proxies: z.array(z.string().regex(/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/, 'expected host:port, e.g. proxy1.example.org:3128')).default([]),
  /** reached without the proxy: host names, *.domain patterns, or CIDRs (IP-literal URLs only) */
  bypass: z.array(z.string().min(1)).default([]),
  /** spread sites across the proxies (each keeps the others as fallback) */
  spread: z.boolean().default(true),
  /** when every proxy is down, go direct (unfiltered, unrecorded): off, as the policy requires recording */
  directFallback: z.boolean().default(false),
}).prefault({});

/** Virus scanning of downloads through ClamAV's clamd (docs/operators/virus-scanning.md). */
export const scanSchema = z.strictObject({
  /** off by default: nothing changes where no clamd is installed */
  enabled: z.boolean().default(false),
  /** a clamd socket: a path (unix socket) or host:port; unset with scanning on → a managed clamd started with the proxy */
  clamd: z.string().min(1).refine((v) => v.startsWith('/') || /^[A-Za-z0-9.[\]:-]+:\d{1,5}$/.test(v), { message: 'expected a socket path (/run/clamav/clamd.ctl) or host:port (clamav:3310)' }).optional(),
  /** responses larger than this pass unscanned, flagged `unscanned` */
  maxMB: z.number().min(0.001).max(4000).default(25),
  /** what a download gets when clamd is down, fails or is slower than timeoutSeconds */
  onError: z.enum(['allow', 'block']).default('allow'),
  /** the longest a verdict may take once the whole file was sent, and the longest to connect */
  timeoutSeconds: z.number().min(0.1).max(600).default(15),
  /** a download is held back whole (headers too) up to this size, so an infected one gets the block page; beyond it, all but its last part streams */
  holdKB: z.number().int().min(0).max(1_048_576).default(1024),
  /** the managed clamd's signature directory (Debian's freshclam keeps it in /var/lib/clamav) */
  databaseDir: z.string().min(1).default('/var/lib/clamav'),
  /** the managed clamd's binary */
  clamdBinary: z.string().min(1).default('clamd'),
}).prefault({});

/** The category lists (FAIRWATCH_BLOCKLISTS): where the analyser fetches new sets from. */
export const blocklistsSchema = z.strictObject({
  update: z.strictObject({
    /** an http(s) URL of a .tar.gz (UT1's blacklists.tar.gz), a local .tar.gz, or a directory */
    source: z.string().min(1),
    /** node-cron expression in organisation.timezone (default 03:30 every night) */
    schedule: z.string().refine((v) => cron.validate(v), { message: 'expected a cron expression such as "30 3 * * *"' }).default('30 3 * * *'),
  }).optional(),
}).prefault({});

/** Audit and security events to a SIEM (docs/operators/siem.md). */
export const siemSchema = z.strictObject({
  syslog: z.strictObject({
    /** tls://host:6514 (RFC 5425), tcp://host:port, or udp://host:514 for a local collector */
    url: z.string().regex(/^(tls|tcp|udp):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}\/?$/, 'expected tls://host:port, tcp://host:port or udp://host:port'),
    /** a PEM file of the CA that signed the collector's certificate (default: the system's CAs) */
    ca: z.string().min(1).optional(),
    /** syslog facility number; 13 is "log audit" */
    facility: z.number().int().min(0).max(23).default(13),
    /** messages kept while the collector is slow or away; past it new ones are dropped and counted */
    queueMax: z.number().int().min(10).max(1_000_000).default(10_000),
    /** the HOSTNAME field (default: this machine's name) */
    hostname: z.string().min(1).max(255).optional(),
    /** the private enterprise number in structured-data ids (audit@N, security@N) */
    enterpriseId: z.number().int().min(1).default(32473),
  }).optional(),
}).prefault({});

export const configSchema = z.strictObject({
  organisation: organisationSchema,
  proxy: proxySchema,
  identity: identitySchema,
  retention: retentionSchema,
  pipeline: pipelineSchema,
  console: consoleSchema,
  policy: policySchema,
  aup: aupSchema,
  analyser: analyserSchema,
  storage: storageSchema,
  metrics: metricsSchema,
  pac: pacSchema,
  scan: scanSchema,
  siem: siemSchema,
  blocklists: blocklistsSchema,
}).superRefine((c, ctx) => {
  const alerts = c.policy.alerts;
  if (alerts.notify.length && !c.console.smtp) {
    ctx.addIssue({ code: 'custom', path: ['policy', 'alerts', 'notify'], message: 'alert e-mails need a mail server: set console.smtp (url, from, to) as well' });
  }
  for (const g of Object.keys(alerts.groups)) {
    if (!(g in c.policy.groups)) ctx.addIssue({ code: 'custom', path: ['policy', 'alerts', 'groups', g], message: `no group "${g}" in policy.groups (known: ${Object.keys(c.policy.groups).join(', ')})` });
  }
  // an OpenID group mapping must name a group the policy knows, or people would browse under no rules
  c.identity.oidc.forEach((p, i) => {
    const check = (group: string, path: (string | number)[]) => {
      if (!Object.hasOwn(c.policy.groups, group)) {
        ctx.addIssue({ code: 'custom', path: ['identity', 'oidc', i, ...path], message: `group "${group}" is not in policy.groups (${Object.keys(c.policy.groups).join(', ')})` });
      }
    };
    for (const [value, group] of Object.entries(p.groups)) check(group, ['groups', value]);
    if (p.defaultGroup) check(p.defaultGroup, ['defaultGroup']);
  });
  const scim = c.identity.scim;
  if (scim) {
    if (!c.identity.oidc.some((p) => p.id === scim.provider)) {
      ctx.addIssue({ code: 'custom', path: ['identity', 'scim', 'provider'], message: `"${scim.provider}" is not the id of a provider in identity.oidc (${c.identity.oidc.map((p) => p.id).join(', ') || 'none configured'})` });
    }
    for (const [name, group] of Object.entries(scim.groups)) {
      if (!Object.hasOwn(c.policy.groups, group)) ctx.addIssue({ code: 'custom', path: ['identity', 'scim', 'groups', name], message: `"${group}" is not a group in policy.groups (${Object.keys(c.policy.groups).join(', ')})` });
    }
    if (scim.defaultGroup && !Object.hasOwn(c.policy.groups, scim.defaultGroup)) {
      ctx.addIssue({ code: 'custom', path: ['identity', 'scim', 'defaultGroup'], message: `"${scim.defaultGroup}" is not a group in policy.groups (${Object.keys(c.policy.groups).join(', ')})` });
    }
  }
  // directory groups must land in a policy group, or those people would get no rules of their own
  const ldap = c.identity.ldap;
  if (!ldap) return;
  const known = Object.keys(c.policy.groups);
  for (const [dn, group] of Object.entries(ldap.groups)) {
    if (!known.includes(group)) ctx.addIssue({ code: 'custom', path: ['identity', 'ldap', 'groups', dn], message: `"${group}" is not a group in policy.groups (${known.join(', ')})` });
  }
  if (ldap.defaultGroup && !known.includes(ldap.defaultGroup)) {
    ctx.addIssue({ code: 'custom', path: ['identity', 'ldap', 'defaultGroup'], message: `"${ldap.defaultGroup}" is not a group in policy.groups (${known.join(', ')})` });
  }
});

export type Config = z.infer<typeof configSchema>;
export type OidcProvider = z.infer<typeof oidcProviderSchema>;
export type ScimConfig = z.infer<typeof scimSchema>;
export type Rule = z.infer<typeof ruleSchema>;
export type AlertsConfig = z.infer<typeof alertsSchema>;
export type BandName = z.infer<typeof bandName>;
export type ActionName = z.infer<typeof actionName>;

import { Agent, fetch } from 'undici';

// A scripted browser for OpenID sign-in tests: undici with redirects followed by hand, one cookie
// jar per origin, and the test provider's sign-in form filled in when it appears. Tests that play
// an attacker stop it at the console's callback to take the code and state.

export class HttpBrowser {
  private readonly jar = new Map<string, Map<string, string>>();
  private readonly dispatcher: Agent;

  constructor(ca: string, private readonly origin: string) {
    this.dispatcher = new Agent({ connect: { ca } });
  }

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}) {
    const u = new URL(url);
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    const cookies = this.jar.get(u.origin);
    if (cookies?.size) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const method = init.method ?? (init.form ? 'POST' : 'GET');
    // a browser's form post names the page it came from
    if (method === 'POST' && !('origin' in headers)) headers.origin = u.origin === new URL(this.origin).origin ? this.origin : u.origin;
    const res = await fetch(u, { method, headers, body, redirect: 'manual', dispatcher: this.dispatcher });
    const jar = this.jar.get(u.origin) ?? new Map<string, string>();
    this.jar.set(u.origin, jar);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now()));
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return { status: res.status, location: res.headers.get('location'), text: await res.text(), url: u, headers: res.headers };
  }

  cookie(origin: string, name: string): string | undefined {
    return this.jar.get(new URL(origin).origin)?.get(name);
  }

  /**
   * Follows redirects from `first` (a response), signing in at the provider as `login`; stops
   * at the first URL `stop` accepts (not requested) or at a final answer. At most 15 hops.
   */
  async follow(first: Awaited<ReturnType<HttpBrowser['request']>>, login: string, stop: (u: URL) => boolean = () => false) {
    let res = first;
    for (let hop = 0; hop < 15; hop++) {
      if (res.status >= 300 && res.status < 400 && res.location) {
        const next = new URL(res.location, res.url);
        if (stop(next)) return { stoppedAt: next, res };
        res = await this.request(next.href);
        continue;
      }
      if (res.status === 200 && /^\/interaction\//.test(res.url.pathname) && res.text.includes('name="login"')) {
        res = await this.request(res.url.href, { form: { login } });
        continue;
      }
      return { stoppedAt: null, res };
    }
    throw new Error('more than 15 redirects');
  }
}

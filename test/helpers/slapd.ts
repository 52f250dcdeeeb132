import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pollUntil } from './poll.ts';

// Debian's OpenLDAP server (slapd) for directory tests: a slapd.conf in a temp folder (never
// /etc), an mdb database there, listening on loopback ports; entries are written with the
// ldap-utils clients (ldapadd, ldapmodify, ldapdelete) as the rootdn, so overlays such as memberof
// maintain what they maintain on a real server. Optional LDAPS/StartTLS with a test CA made by
// openssl.

export const SLAPD = ['/usr/sbin/slapd'].find((p) => existsSync(p)) ?? null;
export const SUFFIX = 'dc=example,dc=org';
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PW = 'root-secret-1';

export interface SlapdOptions {
  /** load the memberof overlay (groupOfNames member ↔ memberOf) */
  memberOf?: boolean;
  /** also listen with ldaps:// and offer StartTLS, with a certificate for 127.0.0.1 from a test CA */
  tls?: boolean;
  /**
   * Debian's msuser.schema (Active Directory's user class): userAccountControl, and memberOf as a
   * plain attribute written by hand as AD computes it. Not with `memberOf` (the overlay's own).
   */
  adSchema?: boolean;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
  await new Promise((r) => s.close(r));
  return port;
}

function makeCa(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'san.ext');
  const o = { stdio: 'pipe' as const };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=fairwatch test directory CA'], o);
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1'], o);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext], o);
  return { ca, cert, key };
}

export class Slapd {
  private child: ChildProcess | null = null;
  readonly port: number;
  readonly tlsPort: number;
  readonly caFile: string | null;
  private readonly conf: string;

  private constructor(readonly dir: string, ports: [number, number], private readonly opts: SlapdOptions) {
    this.port = ports[0];
    this.tlsPort = ports[1];
    mkdirSync(join(dir, 'db'), { recursive: true });
    const tls = opts.tls ? makeCa(dir) : null;
    this.caFile = tls?.ca ?? null;
    this.conf = join(dir, 'slapd.conf');
    writeFileSync(this.conf, [
      ...['core', 'cosine', 'nis', 'inetorgperson', ...(opts.adSchema ? ['msuser'] : [])].map((s) => `include /etc/ldap/schema/${s}.schema`),
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'moduleload ppolicy',
      ...(opts.memberOf ? ['moduleload memberof'] : []),
      `pidfile ${join(dir, 'slapd.pid')}`,
      ...(tls ? [`TLSCACertificateFile ${tls.ca}`, `TLSCertificateFile ${tls.cert}`, `TLSCertificateKeyFile ${tls.key}`] : []),
      'database mdb',
      'maxsize 10485760',
      `suffix "${SUFFIX}"`,
      `rootdn "${ROOT_DN}"`,
      `rootpw ${ROOT_PW}`,
      `directory ${join(dir, 'db')}`,
      ...(opts.memberOf ? ['overlay memberof'] : []),
      'overlay ppolicy',
      'access to attrs=userPassword by anonymous auth by self write by * none',
      'access to * by users read by * none',
      '',
    ].join('\n'));
  }

  static async start(dir: string, opts: SlapdOptions = {}): Promise<Slapd> {
    if (opts.adSchema && opts.memberOf) throw new Error('adSchema and memberOf both define memberOf: choose one');
    if (!SLAPD) throw new Error('slapd is not installed: apt-get install -y slapd ldap-utils (scripts/ensure-deps.mjs --test does it)');
    const s = new Slapd(dir, [await freePort(), await freePort()], opts);
    await s.run();
    return s;
  }

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  get ldapsUrl(): string {
    return `ldaps://127.0.0.1:${this.tlsPort}`;
  }

  /** Starts (or restarts) the server on the same ports and database; resolves when it answers. */
  async run(): Promise<void> {
    const urls = [this.url + '/', ...(this.opts.tls ? [this.ldapsUrl + '/'] : [])].join(' ');
    let err = '';
    // -d 0: stay in the foreground (so this process owns it) without debug output
    const child = spawn(SLAPD!, ['-f', this.conf, '-h', urls, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d) => { err += d; });
    this.child = child;
    const up = await pollUntil(() => this.ask(), (ok) => ok || child.exitCode !== null, 15_000, 100);
    if (!up) throw new Error(`slapd did not start: ${err}`);
  }

  private ask(): boolean {
    try {
      execFileSync('ldapwhoami', ['-x', '-H', this.url, '-D', ROOT_DN, '-w', ROOT_PW], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((r) => {
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
      c.once('exit', () => { clearTimeout(t); r(); });
      c.kill('SIGTERM');
    });
    this.child = null;
  }

  private tool(bin: string, args: string[], input?: string): string {
    return execFileSync(bin, ['-x', '-H', this.url, '-D', ROOT_DN, '-w', ROOT_PW, ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  }

  add(ldif: string): void {
    this.tool('ldapadd', [], ldif);
  }

  modify(ldif: string): void {
    this.tool('ldapmodify', [], ldif);
  }

  delete(dn: string): void {
    this.tool('ldapdelete', [dn]);
  }
}

/** LDIF for the base entries: the suffix, ou=people, ou=groups and a read-only service account. */
export function baseLdif(servicePw: string): string {
  return [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example Charity\ndc: example`,
    `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=groups,${SUFFIX}\nobjectClass: organizationalUnit\nou: groups`,
    `dn: cn=fairwatch,${SUFFIX}\nobjectClass: person\ncn: fairwatch\nsn: service\nuserPassword: ${servicePw}`,
  ].join('\n\n') + '\n';
}

export function personLdif(uid: string, password: string, uidNumber = 1000): string {
  return `dn: uid=${uid},ou=people,${SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\n` +
    `uidNumber: ${uidNumber}\ngidNumber: 100\nhomeDirectory: /home/${uid}\nuserPassword: ${password}\n`;
}

import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import forge from 'node-forge';
import { randomSerial, type OrganisationCa } from './ca.ts';

// Leaf certificates for blocked and inspected HTTPS hosts, minted on demand and signed by the organisation CA.
// One RSA key serves every leaf of this process (as mitmproxy does): key generation is the slow
// part, signing a certificate takes a few milliseconds. Minted certificates are kept in a small LRU
// so a page that retries does not mint again.

export interface Leaf {
  host: string;
  certPem: string;
  keyPem: string;
  context: SecureContext;
}

/** Host names as they may appear in a CONNECT line or SNI; refuses anything that could not be a name. */
export function validLeafHost(host: string): boolean {
  if (isIP(host)) return true;
  return host.length > 0 && host.length <= 253 && /^[a-z0-9*]([a-z0-9-]{0,62})(\.[a-z0-9-]{1,63})*\.?$/i.test(host);
}

export class LeafMinter {
  private readonly cache = new Map<string, Leaf>();
  private readonly leafKey: forge.pki.rsa.PrivateKey;
  private readonly leafKeyPem: string;
  private readonly leafPub: forge.pki.rsa.PublicKey;
  private readonly caChainPem: string;
  private readonly caKey: KeyObject;
  minted = 0;

  constructor(private readonly ca: OrganisationCa, private readonly maxEntries = 1000, private readonly validDays = 30) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    this.leafKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
    this.leafKeyPem = privateKey;
    this.leafPub = forge.pki.setRsaPublicKey(this.leafKey.n, this.leafKey.e);
    this.caChainPem = ca.certPem;
    this.caKey = createPrivateKey(ca.keyPem);
  }

  get size(): number {
    return this.cache.size;
  }

  /** The leaf for `host` (lower-cased, without port), from the cache or minted now. */
  leafFor(rawHost: string): Leaf {
    const host = rawHost.toLowerCase().replace(/\.$/, '');
    if (!validLeafHost(host)) throw new Error(`not a host name: ${JSON.stringify(rawHost.slice(0, 80))}`);
    const hit = this.cache.get(host);
    if (hit) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.cache.delete(host);
      this.cache.set(host, hit);
      return hit;
    }
    const leaf = this.mint(host);
    this.cache.set(host, leaf);
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    return leaf;
  }

  private mint(host: string): Leaf {
    return this.certificate([host], this.validDays);
  }

  /**
   * One certificate for a server of our own known by several names and addresses (the proxy's TLS
   * listener, proxy.tlsPort): every one of them in subjectAltName, the first as the common name.
   * Not cached; the caller renews it before `validDays` run out.
   */
  forNames(names: readonly string[], validDays: number): Leaf {
    const hosts = names.map((n) => n.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, ''));
    const bad = hosts.find((h) => !validLeafHost(h) || h.includes('*'));
    if (hosts.length === 0 || bad !== undefined) throw new Error(`not a host name or IP address: ${JSON.stringify(bad ?? '')}`);
    return this.certificate([...new Set(hosts)], validDays);
  }

  private certificate(hosts: string[], validDays: number): Leaf {
    const host = hosts[0]!;
    const cert = forge.pki.createCertificate();
    cert.publicKey = this.leafPub;
    cert.serialNumber = randomSerial();
    const now = Date.now();
    cert.validity.notBefore = new Date(now - 24 * 3600_000);
    cert.validity.notAfter = new Date(now + validDays * 24 * 3600_000);
    cert.setSubject([{ name: 'commonName', value: host.slice(0, 64) }]);
    cert.setIssuer(this.ca.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.ca.cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    signWithNode(cert, this.caKey);
    const certPem = forge.pki.certificateToPem(cert);
    this.minted++;
    // The chain includes the CA so a client that has it installed can build the path.
    const context = createSecureContext({ key: this.leafKeyPem, cert: certPem + this.caChainPem });
    return { host, certPem, keyPem: this.leafKeyPem, context };
  }
}

/**
 * forge's certificate.sign() done with Node's OpenSSL RSA: the same bytes, about 50× faster than
 * forge's pure-JS modular arithmetic (bench/pages.ts), which matters when a page pulls in blocked
 * hosts one after another.
 */
function signWithNode(cert: forge.pki.Certificate, key: KeyObject): void {
  const oid = forge.pki.oids['sha256WithRSAEncryption']!;
  const c = cert as forge.pki.Certificate & { signatureOid: string; siginfo: { algorithmOid: string }; tbsCertificate: forge.asn1.Asn1; md: forge.md.MessageDigest };
  c.signatureOid = c.siginfo.algorithmOid = oid;
  c.md = forge.md.sha256.create();
  c.tbsCertificate = (forge.pki as unknown as { getTBSCertificate(x: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(c.tbsCertificate).getBytes(), 'binary');
  c.signature = sign('sha256', tbs, key).toString('binary');
}

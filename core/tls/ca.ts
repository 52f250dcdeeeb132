import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import forge from 'node-forge';
import { FairwatchError } from '../errors.ts';
import { caCertPath, caDir, caKeyPath } from './ca-paths.ts';

// The organisation CA that lets the proxy show a readable block page for a blocked HTTPS site, and
// open the few allowed tunnels policy.inspect names (proxy/tls/inspect.ts). Browsers trust it once
// it is deployed (Group Policy / MDM, see docs/operators/network.md); every other allowed tunnel is spliced untouched.
// The key never leaves the data directory (data/ca/ca.key, mode 0600).

export class CaError extends FairwatchError<'FW_CA_EXISTS' | 'FW_CA_MISSING' | 'FW_CA_INVALID'> {}

export { caDir, caKeyPath, caCertPath } from './ca-paths.ts';

export interface OrganisationCa {
  certPem: string;
  keyPem: string;
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

/** A positive serial number of 16 random bytes (RFC 5280 allows up to 20 octets). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

export interface CreateCaOptions {
  organisation: string;
  /** years the CA is valid; default 10 */
  years?: number;
  force?: boolean;
}

export function createCa(dataDir: string, opts: CreateCaOptions): OrganisationCa & { keyPath: string; certPath: string } {
  const keyPath = caKeyPath(dataDir);
  const certPath = caCertPath(dataDir);
  if (existsSync(keyPath) && !opts.force) {
    throw new CaError('FW_CA_EXISTS', `an organisation CA already exists at ${keyPath}; browsers trust it already, so keep it (use --force only to replace it, then deploy the new certificate)`);
  }
  // Key generation by Node (OpenSSL) takes milliseconds; forge's pure-JS generator takes seconds.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  const pub = forge.pki.setRsaPublicKey(key.n, key.e);
  const cert = forge.pki.createCertificate();
  cert.publicKey = pub;
  cert.serialNumber = randomSerial();
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 24 * 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + (opts.years ?? 10) * 365 * 24 * 3600_000);
  // UTF8String: an organisation name may hold characters PrintableString forbids ('&', accents),
  // and Chromium rejects a certificate whose PrintableString does (ERR_SSL_SERVER_CERT_BAD_FORMAT).
  const utf8 = forge.asn1.Type.UTF8;
  const name = [
    { name: 'commonName', value: `${opts.organisation.slice(0, 40)} fairwatch block-page CA`, valueTagClass: utf8 },
    { name: 'organizationName', value: opts.organisation.slice(0, 64), valueTagClass: utf8 },
  ] as unknown as forge.pki.CertificateField[];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  const keyPem = forge.pki.privateKeyToPem(key);
  mkdirSync(caDir(dataDir), { recursive: true, mode: 0o700 });
  chmodSync(caDir(dataDir), 0o700);
  writeFileSync(keyPath, keyPem, { mode: 0o600 });
  chmodSync(keyPath, 0o600);
  writeFileSync(certPath, certPem, { mode: 0o644 });
  return { certPem, keyPem, cert, key, keyPath, certPath };
}

/** The organisation CA when one was created, else null. A damaged file is an error naming it. */
export function loadCa(dataDir: string): OrganisationCa | null {
  const keyPath = caKeyPath(dataDir);
  const certPath = caCertPath(dataDir);
  if (!existsSync(keyPath) || !existsSync(certPath)) return null;
  try {
    const keyPem = readFileSync(keyPath, 'utf8');
    const certPem = readFileSync(certPath, 'utf8');
    const cert = forge.pki.certificateFromPem(certPem);
    // forge reads a UTF8String as its raw bytes but encodes one from text: decode, so the leaves'
    // issuer name is byte-for-byte this certificate's subject (else nothing verifies).
    for (const a of cert.subject.attributes) {
      if ((a as { valueTagClass?: number }).valueTagClass === forge.asn1.Type.UTF8 && typeof a.value === 'string') a.value = forge.util.decodeUtf8(a.value);
    }
    return { keyPem, certPem, key: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey, cert };
  } catch (e) {
    throw new CaError('FW_CA_INVALID', `${caDir(dataDir)}: the CA files cannot be read (${(e as Error).message}); run \`fairwatch ca init --force\` to replace them`);
  }
}

/** base64 SHA-256 of the certificate's SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list, HPKP pins). */
export function spkiSha256(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/** SHA-256 fingerprint as shown by browsers and Windows certificate manager (AA:BB:…). */
export function fingerprintSha256(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

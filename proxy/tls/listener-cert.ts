import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Config } from '../../core/config/schema.ts';
import { proxyTlsNames } from '../../core/proxy-address.ts';
import type { LeafMinter } from '../../core/tls/leaf.ts';
import { FairwatchError } from '../../core/errors.ts';

// The certificate of the proxy's TLS listener (proxy.tlsPort): proxy.tlsCert/tlsKey when given,
// else one minted from the organisation CA for proxy.tlsNames (default: the names the PAC file
// uses), which browsers already trust once the CA is deployed. A minted one is renewed in memory
// long before it expires, so a proxy that runs for months never serves an expired certificate.

export class ListenerCertError extends FairwatchError {
  constructor(message: string) {
    super('FW_PROXY_TLS', message);
  }
}

/** Days a minted listener certificate is valid; it is replaced after half of them. */
const MINTED_DAYS = 90;
const RENEW_MS = (MINTED_DAYS / 2) * 24 * 3600_000;

export interface ListenerCertificate {
  /** the context for a new connection (a minted certificate renewed when due) */
  context(): SecureContext;
  /** for the start-up line: where the certificate comes from and the names it carries */
  readonly describe: string;
}

export function listenerCertificate(config: Config, minter: LeafMinter | null): ListenerCertificate {
  const p = config.proxy;
  if (p.tlsCert !== undefined && p.tlsKey !== undefined) return fromFiles(p.tlsCert, p.tlsKey);
  if (!minter) {
    throw new ListenerCertError('proxy.tlsPort needs a certificate: create the organisation CA (`fairwatch ca init`, then deploy its certificate to browsers) or set proxy.tlsCert and proxy.tlsKey');
  }
  const names = proxyTlsNames(config);
  const mint = () => {
    try {
      return minter.forNames(names, MINTED_DAYS);
    } catch (e) {
      throw new ListenerCertError(`proxy.tlsNames: ${(e as Error).message}`);
    }
  };
  let leaf = mint();
  let minted = Date.now();
  return {
    describe: `minted from the organisation CA for ${names.join(', ')}`,
    context() {
      if (Date.now() - minted > RENEW_MS) {
        leaf = mint();
        minted = Date.now();
      }
      return leaf.context;
    },
  };
}

function fromFiles(certPath: string, keyPath: string): ListenerCertificate {
  const read = (key: string, path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new ListenerCertError(`${key}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const certPem = read('proxy.tlsCert', certPath);
  const keyPem = read('proxy.tlsKey', keyPath);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new ListenerCertError(`proxy.tlsCert: ${certPath} is not a PEM certificate (${(e as Error).message})`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new ListenerCertError(`proxy.tlsKey: ${keyPath} is not a PEM private key, or it is encrypted (${(e as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new ListenerCertError(`proxy.tlsKey: ${keyPath} is not the key of the certificate in proxy.tlsCert (${certPath})`);
  }
  if (new Date(cert.validTo).getTime() < Date.now()) {
    throw new ListenerCertError(`proxy.tlsCert: ${certPath} expired on ${cert.validTo}`);
  }
  let context: SecureContext;
  try {
    context = createSecureContext({ cert: certPem, key: keyPem });
  } catch (e) {
    throw new ListenerCertError(`proxy.tlsCert / proxy.tlsKey: ${(e as Error).message}`);
  }
  return { describe: `from ${certPath} (${cert.subjectAltName ?? cert.subject})`, context: () => context };
}

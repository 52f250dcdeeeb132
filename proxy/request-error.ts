import { FairwatchError } from '../core/errors.ts';

// A failure on one request, carrying the status to answer with, so the edge turns any failure into
// one clear response and one event (apify/proxy-chain's RequestError). Codes are stable strings
// tests and logs switch on; messages are for people.

export type RequestErrorCode =
  | 'FW_BAD_URI'
  | 'FW_ORIGIN_FORM'
  | 'FW_BAD_METHOD'
  | 'FW_HEADER_TOO_LARGE'
  | 'FW_SMUGGLING'
  | 'FW_MALFORMED'
  | 'FW_CLIENT_DENIED'
  | 'FW_AUTH_REQUIRED'
  | 'FW_PORT_REFUSED'
  | 'FW_DESTINATION_REFUSED'
  | 'FW_IP_REFUSED'
  | 'FW_DNS_FAILED'
  | 'FW_UPSTREAM_UNREACHABLE'
  | 'FW_UPSTREAM_TIMEOUT'
  | 'FW_UPSTREAM_CERT'
  | 'FW_DIAL_REFUSED';

export class RequestError extends FairwatchError<RequestErrorCode> {
  constructor(
    readonly status: number,
    code: RequestErrorCode,
    message: string,
    /** added to the event's flags, e.g. 'ssrf-refused', 'malformed' */
    readonly flag = '',
  ) {
    super(code, message, { httpStatus: status });
  }
}

/**
 * Turns a socket or DNS error from the upstream side into the status the client sees. A connection
 * that was refused, reset or never answered reads the same to the client, so the proxy does not
 * tell a port scan which ports are closed and which are filtered; the cause stays in the event.
 */
export function upstreamError(err: unknown, target: string): RequestError {
  if (err instanceof RequestError) return err;
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code ?? '';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new RequestError(504, 'FW_UPSTREAM_TIMEOUT', `${target} did not answer in time`, 'upstream-timeout');
  }
  if (CERT_ERRORS.has(code)) {
    return new RequestError(502, 'FW_UPSTREAM_CERT', `${target} presented a certificate that cannot be trusted (${code}). The proxy does not connect to a site whose identity it cannot check.`, 'upstream-cert');
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA') {
    return new RequestError(502, 'FW_DNS_FAILED', `the name in ${target} could not be found (DNS: ${code})`, 'dns-failed');
  }
  return new RequestError(502, 'FW_UPSTREAM_UNREACHABLE', `${target} could not be reached.`, 'upstream-unreachable');
}

/** OpenSSL / Node verification failures of an origin's certificate (inspected tunnels). */
const CERT_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

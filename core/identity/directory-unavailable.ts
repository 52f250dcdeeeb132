import { FairwatchError } from '../errors.ts';

// Apart from the LDAP client (ldap-directory.ts) so that the proxy loads that client only when
// identity.ldap is configured, while the authenticator chain always knows this error.

/** The directory could not be asked; `message` says why (for the log, not for the client). */
export class DirectoryUnavailable extends FairwatchError {
  constructor(message: string) {
    super('FW_DIRECTORY_UNAVAILABLE', message);
  }
}

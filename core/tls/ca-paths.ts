import { existsSync } from 'node:fs';
import { join } from 'node:path';

// Where the organisation CA lives, apart from ca.ts so a process that only asks whether there is
// one (the proxy's worker process) does not load the certificate library.

export const caDir = (dataDir: string) => join(dataDir, 'ca');
export const caKeyPath = (dataDir: string) => join(caDir(dataDir), 'ca.key');
export const caCertPath = (dataDir: string) => join(caDir(dataDir), 'ca.crt');

/** Whether both CA files are present (loadCa says whether they are usable). */
export const caPresent = (dataDir: string) => existsSync(caKeyPath(dataDir)) && existsSync(caCertPath(dataDir));

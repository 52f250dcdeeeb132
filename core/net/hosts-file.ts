import { isIP } from 'node:net';
import { FairwatchError } from '../errors.ts';

// A hosts-format file (`address name [alias …]`, `#` comments), as /etc/hosts and Squid's
// hosts_file read it. Pure: the text in, a name → addresses table out, or errors naming the line.

export class HostsFileError extends FairwatchError {
  constructor(message: string) {
    super('FW_HOSTS_FILE', message);
  }
}

export type HostsTable = ReadonlyMap<string, readonly string[]>;

export function parseHostsFile(text: string, file: string): HostsTable {
  const table = new Map<string, string[]>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (!line) continue;
    const [address, ...names] = line.split(/\s+/);
    const ip = address!.replace(/%.*$/, '');
    if (isIP(ip) === 0) throw new HostsFileError(`${file}:${i + 1}: "${address!.slice(0, 60)}" is not an IP address (expected "address name [alias …]")`);
    if (names.length === 0) throw new HostsFileError(`${file}:${i + 1}: ${address} has no host name after it`);
    for (const raw of names) {
      const name = raw.toLowerCase().replace(/\.$/, '');
      if (!/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$/.test(name)) throw new HostsFileError(`${file}:${i + 1}: "${raw.slice(0, 60)}" is not a host name`);
      const list = table.get(name);
      if (!list) table.set(name, [ip]);
      else if (!list.includes(ip)) list.push(ip);
    }
  }
  return table;
}

import { existsSync } from 'node:fs';
import { caCertPath, caKeyPath, createCa, fingerprintSha256, loadCa, spkiSha256 } from '../../core/tls/ca.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

// `fairwatch ca init` / `ca show`: the organisation CA that lets the proxy show the block page for
// blocked HTTPS sites. Needs only the data directory, so it never goes through a running primary;
// a running proxy picks a new CA up at its next start.

export function registerCa({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const ca = program.command('ca').description('the organisation CA for HTTPS block pages: init, show');

  ca.command('init')
    .description('create the organisation CA (key 0600 in the data directory); deploy ca.crt to browsers by Group Policy or MDM')
    .option('--force', 'replace an existing CA (browsers must then be given the new certificate)')
    .action(act(async (opts: { force?: boolean }) => ctx.withPlatform({}, async (p) => {
      const made = createCa(p.runtime.dataDir, { organisation: p.config.organisation.name, force: opts.force });
      ctx.io.out(`created organisation CA for "${p.config.organisation.name}"\n`);
      ctx.io.out(`certificate: ${made.certPath}\n`);
      ctx.io.out(`key:         ${made.keyPath} (mode 0600; never copy it off this machine)\n`);
      ctx.io.out(`sha256:      ${fingerprintSha256(made.certPem)}\n`);
      ctx.io.out(`spki-sha256: ${spkiSha256(made.certPem)}\n`);
      ctx.io.out('next: deploy the certificate as a trusted root (see docs/operators/network.md, "The organisation CA"), then restart fairwatch\n');
      return 0;
    })));

  ca.command('show')
    .description('print where the CA is and its fingerprints')
    .action(act(async () => ctx.withPlatform({}, async (p) => {
      const loaded = loadCa(p.runtime.dataDir);
      if (!loaded) {
        const partial = existsSync(caKeyPath(p.runtime.dataDir)) || existsSync(caCertPath(p.runtime.dataDir));
        throw new CommandFailure(partial
          ? `${caKeyPath(p.runtime.dataDir)} or ${caCertPath(p.runtime.dataDir)} is missing: run \`fairwatch ca init --force\``
          : 'no organisation CA yet: run `fairwatch ca init` (blocked HTTPS sites get a 403 until then)', 1);
      }
      ctx.io.out(`certificate: ${caCertPath(p.runtime.dataDir)}\n`);
      ctx.io.out(`subject:     ${loaded.cert.subject.getField('CN')?.value ?? ''}\n`);
      ctx.io.out(`valid until: ${loaded.cert.validity.notAfter.toISOString()}\n`);
      ctx.io.out(`sha256:      ${fingerprintSha256(loaded.certPem)}\n`);
      ctx.io.out(`spki-sha256: ${spkiSha256(loaded.certPem)}\n`);
      return 0;
    })));
}

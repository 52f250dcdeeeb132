import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyEvidencePack } from '../../core/evidence/pack.ts';
import { isTarGz, withExtractedPack } from '../../core/evidence/tarball.ts';
import { runtimeFromEnv } from '../../core/config/load.ts';
import { keysDir } from '../../core/keys.ts';
import type { CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

export function registerEvidence({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const evidence = program.command('evidence').description('evidence packs exported from investigations');

  evidence.command('verify')
    .description("check an evidence pack: every file's SHA-256 against the manifest, and the manifest's Ed25519 signature")
    .argument('<path>', 'the pack directory, its manifest.json, or the .tar.gz downloaded from the console')
    .action(act(async (path: string) => {
      // Needs no store: a pack can be checked anywhere. The installation's public key is used when
      // this data directory has one; otherwise the key inside the pack (said so in the output).
      const pub = join(keysDir(runtimeFromEnv().dataDir), 'evidence-ed25519.pub.pem');
      const trusted = existsSync(pub) ? readFileSync(pub, 'utf8') : null;
      if (isTarGz(path) && !existsSync(path)) {
        ctx.io.err(`fairwatch: ${path}: no such file\n`);
        return 1;
      }
      let r;
      try {
        // problems inside the archive are named as archive/member, not by the temp directory they were checked in
        r = isTarGz(path)
          ? await withExtractedPack(path, (dir) => {
            const v = verifyEvidencePack(dir, trusted);
            return v.ok ? v : { ...v, problem: v.problem.split(dir).join(path) };
          })
          : verifyEvidencePack(path, trusted);
      } catch (e) {
        ctx.io.err(`fairwatch: evidence pack NOT valid: ${path}: cannot be unpacked (${(e as Error).message})\n`);
        return 1;
      }
      if (!r.ok) {
        ctx.io.err(`fairwatch: evidence pack NOT valid: ${r.problem}\n`);
        return 1;
      }
      const head = r.manifest.audit_head ? `audit head seq ${r.manifest.audit_head.seq} hash ${r.manifest.audit_head.hash}` : 'audit log empty at export';
      ctx.io.out(`ok ${r.files} files, signed by ${r.keyMatchesInstallation ? "this installation's evidence key" : `the key in the pack (${r.manifest.public_key_sha256.slice(0, 16)}…; no installation key here to compare)`}, ${head}\n`);
      return 0;
    }));
}

import type { Decision } from './types.ts';
import type { PolicyConfig } from './engine.ts';

// Response- and request-side rules the proxy applies where it can see the content (plain HTTP, or
// HTTPS it inspects): executables and installers for groups without the `software-download`
// permission, and large uploads. Pure: the proxy passes in the headers it saw.

export const SOFTWARE_PERMISSION = 'software-download';

/** The file name a response carries: Content-Disposition filename(*) first, else the path's last segment. */
export function responseFileName(path: string, contentDisposition?: string | null): string {
  if (contentDisposition) {
    const star = /filename\*\s*=\s*(?:[\w-]+'[^']*')?("?)([^";]+)\1/i.exec(contentDisposition);
    if (star) {
      try {
        return decodeURIComponent(star[2]!.trim());
      } catch {
        return star[2]!.trim();
      }
    }
    const plain = /filename\s*=\s*("?)([^";]+)\1/i.exec(contentDisposition);
    if (plain) return plain[2]!.trim();
  }
  const noQuery = path.split(/[?#]/)[0] ?? '';
  const last = noQuery.slice(noQuery.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

export function groupMayDownloadSoftware(policy: PolicyConfig, group: string): boolean {
  return policy.groups[group]?.permissions.includes(SOFTWARE_PERMISSION) ?? false;
}

/**
 * A block decision when the response is an executable or installer and the group lacks the
 * software-download permission; null otherwise.
 */
export function checkDownload(policy: PolicyConfig, group: string, res: { path: string; contentType?: string | null; contentDisposition?: string | null }): Decision | null {
  if (groupMayDownloadSoftware(policy, group)) return null;
  const { extensions, mimeTypes, clause } = policy.softwareDownloads;
  const name = responseFileName(res.path, res.contentDisposition).toLowerCase();
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot + 1) : '';
  const mime = (res.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const byExt = ext !== '' && extensions.some((e) => e.toLowerCase().replace(/^\./, '') === ext);
  const byMime = mime !== '' && mimeTypes.some((m) => m.toLowerCase() === mime);
  if (!byExt && !byMime) return null;
  return { action: 'block', category: 'software-download', rule: 'software-download', reason: clause };
}

export interface UploadCheck {
  /** over policy.largeUploadMB: record it in the event */
  flagged: boolean;
  /** and policy.blockLargeUploads is on */
  block: boolean;
  limitBytes: number;
}

/** Whether a request body of `bytes` (Content-Length, or counted so far) is a large upload. */
export function checkUpload(policy: PolicyConfig, bytes: number): UploadCheck {
  const limitBytes = Math.round(policy.largeUploadMB * 1024 * 1024);
  const flagged = bytes > limitBytes;
  return { flagged, block: flagged && policy.blockLargeUploads, limitBytes };
}

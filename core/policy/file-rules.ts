import type { Decision } from './types.ts';
import type { PolicyConfig } from './engine.ts';

// Request- and response-side rules the proxy applies where it can see the content (plain HTTP, or
// HTTPS it inspects): executables and installers for groups without the `software-download`
// permission, and large uploads. Pure: the proxy passes in what it saw. Also the one place a
// file name is read from a URL or a Content-Disposition header (the event's `filename`).

export const SOFTWARE_PERMISSION = 'software-download';

const PAGE_TYPES = /^(text\/html|application\/xhtml\+xml)\b/i;

/** Content-Disposition's file name (filename* first), reduced to its last path part. */
export function filenameFromDisposition(disposition: string | null | undefined): string {
  if (!disposition) return '';
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(disposition);
  if (star?.[2]) {
    try {
      return baseName(decodeURIComponent(star[2].trim().replace(/^"|"$/g, '')));
    } catch {
      // a malformed percent-encoding: fall through to the plain parameter
    }
  }
  const plain = /filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]+)/i.exec(disposition);
  if (!plain) return '';
  const value = plain[2] !== undefined ? plain[2].replace(/\\(.)/g, '$1') : (plain[1] ?? '').trim();
  return baseName(value);
}

function baseName(name: string): string {
  // a site may send a path; only the last part is a file name
  return (name.split(/[\\/]/).pop() ?? '').slice(0, 255);
}

/** The path's last segment, decoded (no query string). */
export function requestFileName(path: string): string {
  const end = firstOf(path, '?', '#');
  const noQuery = end >= 0 ? path.slice(0, end) : path;
  const last = noQuery.slice(noQuery.lastIndexOf('/') + 1);
  if (!last.includes('%')) return last.slice(0, 255);
  try {
    return decodeURIComponent(last).slice(0, 255);
  } catch {
    return last.slice(0, 255);
  }
}

/** Where the first of two characters is in `text`, or -1 (asked for every response: no regular expression). */
function firstOf(text: string, a: string, b: string): number {
  const i = text.indexOf(a);
  const j = text.indexOf(b);
  return i < 0 ? j : j < 0 ? i : Math.min(i, j);
}

/** The file a response carries: Content-Disposition filename(*) first, else the path's last segment. */
export function responseFileName(path: string, contentDisposition?: string | null): string {
  return filenameFromDisposition(contentDisposition) || requestFileName(path);
}

/** The event's `filename`: named by the site, else the path's last segment unless the response is a page. */
export function eventFilename(path: string, contentType: string, disposition: string | undefined): string {
  const named = filenameFromDisposition(disposition);
  if (named) return named;
  if (PAGE_TYPES.test(contentType)) return '';
  return requestFileName(path);
}

export function groupMayDownloadSoftware(policy: PolicyConfig, group: string): boolean {
  return policy.groups[group]?.permissions.includes(SOFTWARE_PERMISSION) ?? false;
}

/** policy.softwareDownloads normalised once per policy (it is asked about every response). */
const softwareSets = new WeakMap<PolicyConfig['softwareDownloads'], { extensions: Set<string>; mimeTypes: Set<string> }>();

function softwareSet(policy: PolicyConfig): { extensions: Set<string>; mimeTypes: Set<string> } {
  const sd = policy.softwareDownloads;
  let sets = softwareSets.get(sd);
  if (!sets) {
    sets = { extensions: new Set(sd.extensions.map((e) => e.toLowerCase().replace(/^\./, ''))), mimeTypes: new Set(sd.mimeTypes.map((m) => m.toLowerCase())) };
    softwareSets.set(sd, sets);
  }
  return sets;
}

/** Whether a file name or Content-Type is an executable or installer under policy.softwareDownloads. */
export function isSoftware(policy: PolicyConfig, res: { path: string; contentType?: string | null; contentDisposition?: string | null }): boolean {
  const { extensions, mimeTypes } = softwareSet(policy);
  const name = responseFileName(res.path, res.contentDisposition);
  const dot = name.lastIndexOf('.');
  if (dot >= 0 && dot < name.length - 1 && extensions.has(name.slice(dot + 1).toLowerCase())) return true;
  if (!res.contentType) return false;
  const semi = res.contentType.indexOf(';');
  const mime = (semi >= 0 ? res.contentType.slice(0, semi) : res.contentType).trim().toLowerCase();
  return mime !== '' && mimeTypes.has(mime);
}

/** The first bytes of a Windows executable (DOS "MZ" header). */
export function looksLikeWindowsExecutable(first: Buffer): boolean {
  return first.length >= 2 && first[0] === 0x4d && first[1] === 0x5a;
}

/** The block decision for software, whatever the site's category. */
export function softwareDecision(policy: PolicyConfig): Decision {
  return { action: 'block', category: 'software-download', rule: 'software-download', reason: policy.softwareDownloads.clause };
}

/**
 * A block decision when the response is an executable or installer and the group lacks the
 * software-download permission; null otherwise.
 */
export function checkDownload(policy: PolicyConfig, group: string, res: { path: string; contentType?: string | null; contentDisposition?: string | null }): Decision | null {
  if (groupMayDownloadSoftware(policy, group)) return null;
  return isSoftware(policy, res) ? softwareDecision(policy) : null;
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

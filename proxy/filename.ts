// The file a response delivers, for the event's `filename`: Content-Disposition when the site names
// it, else the last path segment when the response is not a page (a PDF, an installer, an image).

const PAGE_TYPES = /^(text\/html|application\/xhtml\+xml)\b/i;

export function filenameFromDisposition(disposition: string | undefined): string {
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

export function responseFilename(path: string, contentType: string, disposition: string | undefined): string {
  const named = filenameFromDisposition(disposition);
  if (named) return named;
  if (PAGE_TYPES.test(contentType)) return '';
  const last = path.split('/').pop() ?? '';
  try {
    return decodeURIComponent(last).slice(0, 255);
  } catch {
    return last.slice(0, 255);
  }
}

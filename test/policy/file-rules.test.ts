import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { checkDownload, checkUpload, requestFileName, responseFileName } from '../../core/policy/file-rules.ts';

const policy = parseConfig(`
policy:
  groups:
    staff: {}
    it: { permissions: [software-download] }
  largeUploadMB: 10
  blockLargeUploads: true
`).policy;

describe('software downloads', () => {
  it.each([
    ['/downloads/setup.exe', null, null, true],
    ['/downloads/SETUP.MSI', null, null, true],
    ['/tools/installer.dmg?x=1', null, null, true],
    ['/a/b/app.apk', null, null, true],
    ['/s.ps1', null, null, true],
    ['/file', 'application/x-msdownload', null, true],
    ['/file', 'application/vnd.android.package-archive; charset=binary', null, true],
    ['/download?id=7', 'application/octet-stream', 'attachment; filename="Report Tool.exe"', true],
    ['/download?id=8', 'application/octet-stream', "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.iso", true],
    ['/report.pdf', 'application/pdf', null, false],
    ['/exe/readme.txt', 'text/plain', null, false],
    ['/setup.exe.txt', 'text/plain', null, false],
  ])('%s (%s, %s) blocked=%s for staff, never for it', (path, contentType, contentDisposition, blocked) => {
    const d = checkDownload(policy, 'staff', { path, contentType, contentDisposition });
    if (blocked) expect(d).toMatchObject({ action: 'block', rule: 'software-download', reason: policy.softwareDownloads.clause });
    else expect(d).toBeNull();
    expect(checkDownload(policy, 'it', { path, contentType, contentDisposition })).toBeNull();
  });

  it('matches configured extensions and types whatever their case or leading dot, and a policy change is seen', () => {
    const own = parseConfig(`
policy:
  softwareDownloads:
    extensions: [".PKG", Run]
    mimeTypes: ["Application/X-Custom"]
`).policy;
    expect(checkDownload(own, 'staff', { path: '/a/tool.pkg' })).not.toBeNull();
    expect(checkDownload(own, 'staff', { path: '/a/install.RUN' })).not.toBeNull();
    expect(checkDownload(own, 'staff', { path: '/file', contentType: 'application/x-custom; v=1' })).not.toBeNull();
    expect(checkDownload(own, 'staff', { path: '/a/tool.exe' })).toBeNull();
    // a name that ends in a dot has no extension
    expect(checkDownload(own, 'staff', { path: '/a/pkg.' })).toBeNull();
    // the default policy is its own object: its lists, not the one above
    expect(checkDownload(policy, 'staff', { path: '/a/tool.pkg' })).not.toBeNull();
    expect(checkDownload(policy, 'staff', { path: '/a/install.run' })).toBeNull();
  });

  it('an unknown group has no permissions', () => {
    expect(checkDownload(policy, 'visitors', { path: '/x.exe' })).not.toBeNull();
  });

  it('takes the file name from Content-Disposition before the path', () => {
    expect(responseFileName('/dl/123', 'attachment; filename=tool.jar')).toBe('tool.jar');
    expect(responseFileName('/dl/My%20Setup.exe?token=abc', null)).toBe('My Setup.exe');
  });

  it("the path's file name stops at the query or fragment, whichever comes first", () => {
    const cases: Array<[string, string]> = [
      ['/a/setup.exe', 'setup.exe'], ['/a/setup.exe?x=1', 'setup.exe'], ['/a/setup.exe#top', 'setup.exe'],
      ['/a/setup.exe?x=1#y', 'setup.exe'], ['/a/setup.exe#y?x=1', 'setup.exe'], ['/a/b?c/d.exe', 'b'], ['/a/b#c/d.exe', 'b'],
      ['/dir/', ''], ['?only=query', ''], ['/%E6%97%A5.msi', '日.msi'], ['/bad%E6.msi', 'bad%E6.msi'],
    ];
    for (const [path, name] of cases) expect(requestFileName(path), path).toBe(name);
  });
});

describe('large uploads', () => {
  it('flags above the limit and blocks when configured', () => {
    expect(checkUpload(policy, 10 * 1024 * 1024)).toMatchObject({ flagged: false, block: false });
    expect(checkUpload(policy, 10 * 1024 * 1024 + 1)).toMatchObject({ flagged: true, block: true });
    const flagOnly = parseConfig('policy: { largeUploadMB: 1 }').policy;
    expect(checkUpload(flagOnly, 2 * 1024 * 1024)).toMatchObject({ flagged: true, block: false, limitBytes: 1048576 });
  });
});

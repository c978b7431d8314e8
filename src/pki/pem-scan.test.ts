import { describe, expect, it } from 'vitest';
import { scanPemBlocks } from './pem-scan.js';
import { pemEncode } from './pem.js';

const cert = pemEncode(Buffer.from('0123456789abcdef'), 'CERTIFICATE');

describe('scanPemBlocks', () => {
  const cases: Array<[string, string, Array<{ label: string; ok: boolean }>]> = [
    ['ok/two blocks with text around them', `# inventory\n${cert}between\n${cert}trailer`, [{ label: 'CERTIFICATE', ok: true }, { label: 'CERTIFICATE', ok: true }]],
    ['ok/other labels are reported as they are', pemEncode(Buffer.from('k'), 'EC PRIVATE KEY'), [{ label: 'EC PRIVATE KEY', ok: true }]],
    ['error/bad base64', '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n', [{ label: 'CERTIFICATE', ok: false }]],
    ['error/mismatched END label', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n' + cert, [{ label: 'CERTIFICATE', ok: false }, { label: 'CERTIFICATE', ok: true }]],
    ['error/a BEGIN without END before the next block', '-----BEGIN CERTIFICATE-----\nAAAA\n' + cert, [{ label: 'CERTIFICATE', ok: false }, { label: 'CERTIFICATE', ok: true }]],
    ['error/unterminated at the end', cert + '-----BEGIN CERTIFICATE-----\nAAAA', [{ label: 'CERTIFICATE', ok: true }, { label: 'CERTIFICATE', ok: false }]],
    ['error/malformed BEGIN line', '-----BEGIN lower case-----\nAAAA\n-----END lower case-----\n', [{ label: '', ok: false }]],
    ['ok/no block at all', 'just text', []],
  ];
  for (const [name, text, want] of cases) {
    it(name, () => {
      expect(scanPemBlocks(text, 10).blocks.map((b) => ({ label: b.label, ok: b.der !== undefined && !b.error }))).toEqual(want);
    });
  }

  it('ok/the DER is decoded', () => {
    expect(scanPemBlocks(cert, 10).blocks[0].der).toEqual(Buffer.from('0123456789abcdef'));
  });

  it('ok/stops at maxBlocks and says there were more', () => {
    const r = scanPemBlocks(cert.repeat(5), 3);
    expect(r.blocks).toHaveLength(3);
    expect(r.more).toBe(true);
    expect(scanPemBlocks(cert.repeat(3), 3).more).toBe(false);
  });

  // Both inputs took ~10 s with a back-referencing regular expression; each is one pass here.
  it('error/35,000 BEGIN lines and no END (1 MB): one unterminated block', () => {
    const r = scanPemBlocks('-----BEGIN CERTIFICATE-----\n'.repeat(35_000), 100_000);
    expect(r.blocks).toEqual([{ label: 'CERTIFICATE', error: 'the CERTIFICATE PEM block has no END line' }]);
  });

  it('error/35,000 BEGIN lines before one END (1 MB): each unterminated, found without rescanning', () => {
    const r = scanPemBlocks('-----BEGIN CERTIFICATE-----\n'.repeat(35_000) + '-----END CERTIFICATE-----\n', 100_000);
    expect(r.blocks).toHaveLength(35_000);
    expect(r.blocks.slice(0, -1).every((b) => b.error === 'the CERTIFICATE PEM block has no END line')).toBe(true);
    expect(r.blocks[34_999].error).toBe('the CERTIFICATE PEM block is not valid base64');
  });
});

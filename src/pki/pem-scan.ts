/**
 * PEM blocks of untrusted text in one linear pass. A regular expression with a
 * back-reference (`BEGIN (x) … END \1`) rescans the rest of the input from every BEGIN
 * line without an END: a 1 MB body of such lines held the event loop for ~10 s.
 */

export interface PemBlock {
  /** The BEGIN label (e.g. CERTIFICATE); '' when the BEGIN line is unreadable. */
  label: string;
  /** The block's DER; absent when `error` says why it could not be read. */
  der?: Buffer;
  error?: string;
}

const LABEL = /^[A-Z0-9]+(?: [A-Z0-9]+)*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';

/**
 * Every block in order, text between blocks ignored. A block that is malformed (no END
 * line, labels that differ, bad base64) is returned with an `error`; an unterminated one
 * ends the scan. At most `maxBlocks` are returned (`more` says whether there were others).
 */
export function scanPemBlocks(text: string, maxBlocks: number): { blocks: PemBlock[]; more: boolean } {
  const blocks: PemBlock[] = [];
  let pos = 0;
  // The next END line, found once and reused by every BEGIN before it: searching again
  // from each BEGIN would make many BEGINs before one END quadratic.
  let nextEnd = -1;
  for (;;) {
    const begin = text.indexOf(BEGIN, pos);
    if (begin < 0) return { blocks, more: false };
    if (blocks.length >= maxBlocks) return { blocks, more: true };
    const labelEnd = text.indexOf(DASHES, begin + BEGIN.length);
    const label = labelEnd < 0 ? '' : text.slice(begin + BEGIN.length, labelEnd);
    if (labelEnd < 0 || label.length > 64 || !LABEL.test(label)) {
      blocks.push({ label: '', error: 'a malformed PEM BEGIN line' });
      pos = begin + BEGIN.length;
      continue;
    }
    const bodyStart = labelEnd + DASHES.length;
    if (nextEnd !== -2 && nextEnd < bodyStart) nextEnd = text.indexOf(END, bodyStart);
    if (nextEnd === -1) nextEnd = -2; // none left at all
    const end = nextEnd === -2 ? -1 : nextEnd;
    // The next BEGIN before this block's END means this one was never closed.
    const nextBegin = text.indexOf(BEGIN, bodyStart);
    if (end < 0 || (nextBegin >= 0 && nextBegin < end)) {
      blocks.push({ label, error: `the ${label} PEM block has no END line` });
      if (end < 0) return { blocks, more: false };
      pos = nextBegin;
      continue;
    }
    const endLabelEnd = text.indexOf(DASHES, end + END.length);
    const endLabel = endLabelEnd < 0 ? '' : text.slice(end + END.length, endLabelEnd);
    pos = endLabelEnd < 0 ? text.length : endLabelEnd + DASHES.length;
    if (endLabel !== label) {
      blocks.push({ label, error: `the ${label} PEM block ends with a different label` });
      continue;
    }
    const b64 = text.slice(bodyStart, end).replace(/\s+/g, '');
    if (!b64 || !BASE64.test(b64) || b64.length % 4 !== 0) blocks.push({ label, error: `the ${label} PEM block is not valid base64` });
    else blocks.push({ label, der: Buffer.from(b64, 'base64') });
  }
}

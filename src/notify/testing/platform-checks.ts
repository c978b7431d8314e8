/**
 * Payload rules as each platform documents them, written independently of the
 * formatters (numbers are repeated here on purpose, not imported). Receivers in the
 * tests answer 400 when one is broken, as the platforms do.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Discord "Execute Webhook" + embed limits. */
export function checkDiscord(p: unknown): string[] {
  const errs: string[] = [];
  if (!isObj(p)) return ['payload must be an object'];
  const embeds = p.embeds;
  if (p.content === undefined && embeds === undefined) errs.push('one of content/embeds is required');
  if (p.content !== undefined && (typeof p.content !== 'string' || p.content.length > 2000)) errs.push('content must be a string of at most 2000');
  if (p.allowed_mentions !== undefined && (!isObj(p.allowed_mentions) || !Array.isArray(p.allowed_mentions.parse))) errs.push('allowed_mentions.parse must be an array');
  if (embeds !== undefined) {
    if (!Array.isArray(embeds)) return [...errs, 'embeds must be an array'];
    if (embeds.length > 10) errs.push(`too many embeds: ${embeds.length}`);
    let total = 0;
    embeds.forEach((e: unknown, i) => {
      if (!isObj(e)) return errs.push(`embeds[${i}] must be an object`);
      const title = str(e.title);
      const description = str(e.description);
      if (title.length > 256) errs.push(`embeds[${i}].title > 256`);
      if (description.length > 4096) errs.push(`embeds[${i}].description > 4096`);
      if (e.description !== undefined && description.length === 0) errs.push(`embeds[${i}].description empty`);
      if (e.color !== undefined && (!Number.isInteger(e.color) || (e.color as number) < 0 || (e.color as number) > 0xffffff)) errs.push(`embeds[${i}].color invalid`);
      if (e.timestamp !== undefined && Number.isNaN(Date.parse(str(e.timestamp)))) errs.push(`embeds[${i}].timestamp invalid`);
      total += title.length + description.length;
      const fields = (e.fields ?? []) as Obj[];
      if (fields.length > 25) errs.push(`embeds[${i}] has more than 25 fields`);
      for (const f of fields) {
        if (str(f.name).length > 256 || str(f.value).length > 1024) errs.push(`embeds[${i}] field too long`);
        total += str(f.name).length + str(f.value).length;
      }
      if (isObj(e.footer)) {
        if (str(e.footer.text).length > 2048) errs.push(`embeds[${i}].footer > 2048`);
        total += str(e.footer.text).length;
      }
      if (isObj(e.author)) total += str(e.author.name).length;
    });
    if (total > 6000) errs.push(`embeds total ${total} > 6000`);
  }
  return errs;
}

const SLACK_BLOCKS = new Set(['section', 'header', 'context', 'divider', 'actions', 'image', 'rich_text', 'markdown', 'input', 'file', 'video']);

/** Slack incoming webhook with Block Kit. */
export function checkSlack(p: unknown): string[] {
  const errs: string[] = [];
  if (!isObj(p)) return ['payload must be an object'];
  if (typeof p.text !== 'string' || p.text.length === 0) errs.push('text fallback is required when using blocks');
  if (!Array.isArray(p.blocks)) return [...errs, 'blocks must be an array'];
  if (p.blocks.length === 0) errs.push('blocks is empty');
  if (p.blocks.length > 50) errs.push(`too many blocks: ${p.blocks.length}`);
  let chars = 0;
  p.blocks.forEach((b: unknown, i) => {
    if (!isObj(b) || !SLACK_BLOCKS.has(str(b.type))) return errs.push(`blocks[${i}] has an unknown type`);
    const text = isObj(b.text) ? b.text : undefined;
    switch (b.type) {
      case 'header':
        if (!text || text.type !== 'plain_text') errs.push(`blocks[${i}] header text must be plain_text`);
        if (str(text?.text).length === 0 || str(text?.text).length > 150) errs.push(`blocks[${i}] header text must be 1..150`);
        chars += str(text?.text).length;
        break;
      case 'section':
        if (!text || (text.type !== 'mrkdwn' && text.type !== 'plain_text')) errs.push(`blocks[${i}] section text type`);
        if (str(text?.text).length === 0 || str(text?.text).length > 3000) errs.push(`blocks[${i}] section text must be 1..3000 (${str(text?.text).length})`);
        chars += str(text?.text).length;
        break;
      case 'context': {
        const els = b.elements;
        if (!Array.isArray(els) || els.length === 0 || els.length > 10) errs.push(`blocks[${i}] context needs 1..10 elements`);
        else for (const el of els) chars += str((el as Obj).text).length;
        break;
      }
    }
  });
  // Undocumented server-side limit (msg_blocks_too_long) observed around 13 000 characters.
  if (chars > 13_000) errs.push(`blocks carry ${chars} characters`);
  return errs;
}

const ADAPTIVE_ELEMENTS = new Set(['TextBlock', 'Container', 'ColumnSet', 'FactSet', 'Image', 'RichTextBlock', 'ActionSet']);

/** Teams Workflows webhook carrying an Adaptive Card. */
export function checkTeams(p: unknown, raw: string): string[] {
  const errs: string[] = [];
  if (Buffer.byteLength(raw, 'utf8') > 28 * 1024) errs.push(`message is ${Buffer.byteLength(raw)} bytes (> 28 KB)`);
  if (!isObj(p)) return ['payload must be an object'];
  if (p.type !== 'message') errs.push('type must be "message"');
  if (!Array.isArray(p.attachments) || p.attachments.length !== 1) return [...errs, 'attachments must hold one card'];
  const a = p.attachments[0];
  if (!isObj(a) || a.contentType !== 'application/vnd.microsoft.card.adaptive') return [...errs, 'contentType must be application/vnd.microsoft.card.adaptive'];
  const card = a.content;
  if (!isObj(card)) return [...errs, 'content must be an object'];
  if (card.type !== 'AdaptiveCard') errs.push('content.type must be AdaptiveCard');
  if (!['1.0', '1.1', '1.2', '1.3', '1.4', '1.5'].includes(str(card.version))) errs.push(`unsupported card version ${String(card.version)}`);
  if (typeof card.$schema !== 'string') errs.push('$schema missing');
  if (!Array.isArray(card.body) || card.body.length === 0) return [...errs, 'body must be a non-empty array'];
  const walk = (els: unknown[], path: string) =>
    els.forEach((el, i) => {
      if (!isObj(el) || !ADAPTIVE_ELEMENTS.has(str(el.type))) return errs.push(`${path}[${i}] unknown element`);
      if (el.type === 'TextBlock' && typeof el.text !== 'string') errs.push(`${path}[${i}] TextBlock needs text`);
      if (el.type === 'Container') {
        if (!Array.isArray(el.items)) errs.push(`${path}[${i}] Container needs items`);
        else walk(el.items, `${path}[${i}].items`);
      }
    });
  walk(card.body, 'body');
  return errs;
}

/** Every string in a JSON value, for "was each certificate listed?" checks. */
export function allText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(allText).join('\n');
  if (isObj(v)) return Object.values(v).map(allText).join('\n');
  return '';
}

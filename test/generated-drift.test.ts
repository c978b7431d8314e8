import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { renderGenerated } from '../scripts/generate.js';

it('generated/ and the client copies are exactly what `npm run generate` produces from openapi/', async () => {
  const files = await renderGenerated();
  for (const [rel, content] of Object.entries(files)) {
    const onDisk = readFileSync(new URL(`../${rel}`, import.meta.url), 'utf8');
    expect(onDisk === content, `${rel} drifted from openapi/: run npm run generate`).toBe(true);
  }
});

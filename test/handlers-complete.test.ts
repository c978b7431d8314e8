import { expect, it } from 'vitest';
import { listOperations } from '../src/spec.js';
import { allHandlers } from '../src/http/handlers/index.js';

it('every operation in the spec has a handler (spec operationId -> handler, by name)', () => {
  const handlers = allHandlers({ renderMetrics: async () => '' });
  const missing = listOperations()
    .map((o) => o.operationId)
    .filter((id) => !(id in handlers));
  expect(missing).toEqual([]);
});

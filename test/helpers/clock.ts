import type { Clock } from '../../src/lib/clock.js';

/** A clock tests can move forward; it follows real time plus an offset. */
export class TestClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

// Runs every test/scripts/*.pkt script (packetdrill-style, see src/testing/packetdrill/script.ts)
// against a Stack in virtual time.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PacketdrillRunner } from '../src/testing/packetdrill/index.js';

const dir = new URL('./scripts/', import.meta.url);
const scripts = readdirSync(dir)
  .filter((f) => f.endsWith('.pkt'))
  .sort();

describe('packetdrill-style scripts', () => {
  it('has a few dozen scripts', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(30);
  });
  for (const f of scripts) {
    it(f, () => {
      const report = PacketdrillRunner.run(readFileSync(new URL(f, dir), 'utf8'));
      expect(report.lines).toBeGreaterThan(0);
    });
  }
});

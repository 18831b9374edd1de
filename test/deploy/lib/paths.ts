/** Paths shared by the deploy tests. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const repo = (...p: string[]): string => path.join(ROOT, ...p);
export const exists = (rel: string): boolean => existsSync(repo(rel));

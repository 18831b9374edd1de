/**
 * The dashboard's built front end (`apps/controller/web/dist`, written by `web/build.mjs` during
 * `pnpm build`): the page shell, the 403 page and content-hashed assets, read into memory once at
 * boot and served only by exact name (no path is ever joined from request input).
 *
 * A controller started from sources without a web build still serves its API; the dashboard pages
 * then answer 503 with the command that builds them.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** web/dist relative to this file, for both src/dashboard (tsx, vitest) and dist/dashboard (node). */
export const WEB_DIST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');

export const BUILD_HINT = 'run `pnpm --filter @corridor/controller run build:web` (part of `pnpm build`)';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

/** Hashed asset names as the build writes them: `<name>-<HASH>.<ext>`. */
export const ASSET_NAME_PATTERN = '^[A-Za-z0-9_-]{1,64}-[A-Z0-9]{8}\\.(js|css|svg|woff2)$';

export interface Asset {
  body: Buffer;
  contentType: string;
}

export interface DashboardAssets {
  /** index.html: every dashboard page is this shell; the script renders the view for the path. */
  shell: Buffer;
  /** forbidden.html: the 403 page (no script). */
  forbidden: Buffer;
  files: Map<string, Asset>;
}

/** Loads the build, or returns null when it is missing (dashboard disabled, API unaffected). */
export async function loadAssets(dir: string = WEB_DIST_DIR): Promise<DashboardAssets | null> {
  let shell: Buffer;
  let forbidden: Buffer;
  try {
    [shell, forbidden] = await Promise.all([
      readFile(path.join(dir, 'index.html')),
      readFile(path.join(dir, 'forbidden.html')),
    ]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const files = new Map<string, Asset>();
  const pattern = new RegExp(ASSET_NAME_PATTERN);
  for (const name of await readdir(path.join(dir, 'assets'))) {
    const contentType = CONTENT_TYPES[path.extname(name)];
    if (!pattern.test(name) || contentType === undefined) continue;
    files.set(name, { body: await readFile(path.join(dir, 'assets', name)), contentType });
  }
  return { shell, forbidden, files };
}

#!/usr/bin/env node
// Builds the admin dashboard into web/dist (run by `pnpm build` for the controller; offline, from
// node_modules only): esbuild bundles src/main.ts and src/styles.css (with uPlot's stylesheet) into
// content-hashed files under dist/assets, and writes dist/index.html and dist/forbidden.html that
// reference them. No inline script or style anywhere: the controller serves these pages under a
// CSP without 'unsafe-inline'.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');
const assets = path.join(dist, 'assets');

await rm(dist, { recursive: true, force: true });
await mkdir(assets, { recursive: true });

const result = await build({
  entryPoints: { app: path.join(src, 'main.ts'), style: path.join(src, 'styles.css') },
  outdir: assets,
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => path.basename(p));
const pick = (re) => {
  const name = outputs.find((n) => re.test(n));
  if (!name) throw new Error(`web build: no output matching ${re}`);
  return name;
};
const js = pick(/^app-[A-Z0-9]{8}\.js$/);
const css = pick(/^style-[A-Z0-9]{8}\.css$/);

// The icon gets a content hash like the bundles (esbuild's alphabet: A-Z and 2-7 would do; this
// uses the hex digest upper-cased, which the server's asset name pattern accepts too).
const svg = await readFile(path.join(src, 'icon.svg'));
const icon = `icon-${createHash('sha256').update(svg).digest('hex').slice(0, 8).toUpperCase()}.svg`;
await writeFile(path.join(assets, icon), svg);

for (const page of ['index.html', 'forbidden.html']) {
  const html = (await readFile(path.join(src, page), 'utf8'))
    .replaceAll('%JS%', js)
    .replaceAll('%CSS%', css)
    .replaceAll('%ICON%', icon);
  await writeFile(path.join(dist, page), html);
}

const kb = async (n) => `${((await stat(path.join(assets, n))).size / 1000).toFixed(1)} kB`;
process.stdout.write(`admin dashboard built into web/dist: ${js} ${await kb(js)}, ${css} ${await kb(css)}\n`);

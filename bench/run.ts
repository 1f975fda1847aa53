/**
 * Runs every benchmark in turn, prints a Markdown table and writes bench/results/latest.json.
 * A new benchmark is one file exporting `() => Promise<Result>` plus one line in BENCHES.
 * `node --import tsx bench/run.ts [name...]` runs only the named ones.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchAgents } from './agents.js';
import { benchDevices } from './devices.js';
import { benchDiscovery } from './discovery.js';
import { benchReload } from './reload.js';
import { benchHubRss } from './rss.js';
import { benchScheduler } from './scheduler.js';
import { benchWatch } from './watch.js';
import type { Bench, Result, Row } from './types.js';

const BENCHES: Bench[] = [
  { name: 'discovery', run: benchDiscovery },
  { name: 'rss', run: benchHubRss },
  { name: 'agents', run: benchAgents },
  { name: 'scheduler', run: benchScheduler },
  { name: 'devices', run: benchDevices },
  { name: 'watch', run: benchWatch },
  { name: 'reload', run: benchReload },
];

const fmt = (x: number | null, unit = ''): string => (x === null ? '-' : `${x}${unit}`);

function table(rows: Row[]): string {
  const lines = ['| metric | Hearth | baseline | ratio | goal |', '| --- | ---: | ---: | ---: | --- |'];
  for (const r of rows) {
    const ratio = r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`;
    const goal = r.met === null ? r.goal : `${r.goal} ${r.met ? '(met)' : '(NOT met)'}`;
    lines.push(`| ${r.metric} | ${fmt(r.hearth)} | ${fmt(r.baseline)} | ${ratio} | ${goal} |`);
  }
  return lines.join('\n');
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !BENCHES.some((b) => b.name === n));
if (unknown.length) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}\n`);
  process.exitCode = 2;
} else {
  const results: Result[] = [];
  const failures: Array<{ name: string; error: string }> = [];
  for (const b of BENCHES.filter((x) => wanted.length === 0 || wanted.includes(x.name))) {
    process.stderr.write(`bench: ${b.name}...\n`);
    try {
      results.push(await b.run());
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      process.stderr.write(`bench: ${b.name} failed: ${error}\n`);
      failures.push({ name: b.name, error });
    }
  }

  const rows = results.flatMap((r) => r.rows);
  const notes = results.flatMap((r) => r.notes ?? []);
  process.stdout.write(`${table(rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
  if (failures.length) process.stdout.write(`\nFailed: ${failures.map((f) => `${f.name} (${f.error})`).join('; ')}\n`);

  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const out = {
    at: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: `${cpus()[0]?.model ?? 'unknown'} x${cpus().length}`,
    memory_mib: Math.round(totalmem() / 1048576),
    results,
    failures,
  };
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  if (failures.length) process.exitCode = 1;
}

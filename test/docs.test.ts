/**
 * Runs the examples of the user docs so they cannot go stale: every ```lang file=path block must equal
 * that file, JSON configs must pass their schema, TypeScript examples must run, and the shell blocks run
 * in order as a user would type them — `geoml` lines through the CLI's `main`, `curl` lines as fetches
 * against the server the docs started (its port and the NATS URL swapped for the test's own).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  aimdBatchingSchema,
  applicationSchema,
  clipperConfigSchema,
  delayedBatchingSchema,
  hotLoadOptionsSchema,
  httpFrontendSchema,
  modelDeploymentSchema,
  quantileBatchingSchema,
  staticBatchingSchema,
} from '@geoml/clipper';
import { parseConfig } from '@geoml/core';
import {
  ldaOptionsSchema,
  matrixFactorizationOptionsSchema,
  mnistClassifierOptionsSchema,
  trainConfigSchema,
} from '@geoml/gaia';
import { type NatsServer, startNatsServer } from '@geoml/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../packages/cli/src/cli.js';
import { serveConfigSchema, servedModelSchema } from '../packages/cli/src/serve-config.js';
import { trainFileSchema } from '../packages/cli/src/train-file.js';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const PAGES = ['README', 'getting-started', 'training', 'serving', 'configuration', 'metrics'].map(
  (p) => `docs/${p}.md`,
);
/** The addresses the docs write, replaced by the test's own. */
const DOC_HTTP = 'http://127.0.0.1:8080';
const DOC_NATS = /nats:\/\/[A-Za-z0-9.-]+:\d+/g;

interface Block {
  readonly lang: string;
  readonly file?: string;
  readonly body: string;
}

function blocks(page: string): Block[] {
  const out: Block[] = [];
  for (const m of read(page).matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const file = /\bfile=(\S+)/.exec(m[2] ?? '')?.[1];
    out.push({ lang: m[1] ?? '', body: m[3] ?? '', ...(file ? { file } : {}) });
  }
  return out;
}

/** Splits a shell line into words, honouring single and double quotes (enough for the docs' lines). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

/** What the shell blocks of the docs share: the NATS server, the running `geoml serve` and background runs. */
class Session {
  http: string | undefined;
  private stopServing: (() => Promise<number>) | undefined;
  private background: Promise<number>[] = [];
  readonly log: string[] = [];
  constructor(readonly nats: NatsServer) {}

  private run(argv: string[], stop?: Promise<unknown>) {
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void this.log.push(t) };
    return { done: main(argv, { io, ...(stop ? { stop } : {}) }), out };
  }

  async geoml(line: string): Promise<void> {
    const bg = line.endsWith('&');
    const argv = words(line.replace(/&$/, '').replace(DOC_NATS, this.nats.url))
      .slice(1)
      .map((w, i, a) => (a[i - 1] === '--port' ? '0' : w));
    if (argv[0] === 'serve') {
      expect(bg, `${line}: serve runs in the background (&)`).toBe(true);
      // The docs serve on one port: a new server replaces the one before it, as the user must stop it.
      await this.stopServer();
      let stop!: () => void;
      const r = this.run(argv, new Promise<void>((res) => (stop = res)));
      let exited: number | undefined;
      void r.done.then((c) => (exited = c));
      for (let i = 0; i < 1200 && !this.http; i++) {
        this.http = /serving on (http:\S+)/.exec(r.out.join(''))?.[1];
        if (exited !== undefined) throw new Error(`${line} exited ${exited}: ${this.log.join('')}`);
        if (!this.http) await new Promise((res) => setTimeout(res, 50));
      }
      expect(this.http, `${line} printed its URL`).toBeDefined();
      this.stopServing = () => {
        stop();
        return r.done;
      };
      return;
    }
    const r = this.run(argv);
    if (bg) this.background.push(r.done);
    else expect(await r.done, `${line}\n${this.log.join('')}`).toBe(0);
  }

  async curl(line: string): Promise<void> {
    const [, ...w] = words(line.split(' | ')[0] as string);
    let method = 'GET';
    let body: string | undefined;
    const headers: Record<string, string> = {};
    let url = '';
    for (let i = 0; i < w.length; i++) {
      const a = w[i] as string;
      if (a === '-X') method = w[++i] as string;
      else if (a === '-H') {
        const [k, ...v] = (w[++i] as string).split(':');
        headers[(k as string).trim()] = v.join(':').trim();
      } else if (a === '-d') {
        const d = w[++i] as string;
        body = d.startsWith('@') ? read(d.slice(1)) : d;
      } else if (a.startsWith('http')) url = a;
    }
    expect(url.startsWith(DOC_HTTP), `${line} queries the documented server`).toBe(true);
    expect(this.http, `${line}: a server is running`).toBeDefined();
    const res = await fetch(`${this.http}${url.slice(DOC_HTTP.length)}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    expect(res.status, `${line} answered ${text.slice(0, 300)}`).toBeLessThan(300);
    if (url.endsWith('/predict')) {
      const json = JSON.parse(text) as { default?: boolean; batch_predictions?: { default: boolean }[] };
      for (const a of json.batch_predictions ?? [json])
        expect(a.default, `${line}: the model answered`).toBe(false);
    }
    if (url.endsWith('/infer')) expect(JSON.parse(text).outputs?.[0]?.shape).toEqual([1, 10]);
    if (url.endsWith('/metrics')) {
      const grep = /grep '\^?([a-z_]+)'/.exec(line)?.[1];
      if (grep) expect(text).toMatch(new RegExp(`^${grep}`, 'm'));
    }
  }

  /** Runs a page's shell blocks in order. */
  async page(page: string): Promise<void> {
    for (const b of blocks(page).filter((x) => x.lang === 'sh')) {
      const lines = b.body.replace(/\\\n\s*/g, ' ').split('\n');
      for (const raw of lines) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#') || line.startsWith('nats-server')) continue;
        if (line.startsWith('geoml ')) await this.geoml(line);
        else if (line.startsWith('curl ')) await this.curl(line);
        else throw new Error(`${page}: the docs test cannot run "${line}"`);
      }
      const bg = this.background;
      this.background = [];
      for (const code of await Promise.all(bg)) expect(code, this.log.join('')).toBe(0);
    }
  }

  async scrape(): Promise<string> {
    return (await fetch(`${this.http}/metrics`)).text();
  }

  private async stopServer(): Promise<void> {
    const stop = this.stopServing;
    this.stopServing = undefined;
    this.http = undefined;
    if (stop) expect(await stop()).toBe(0);
  }

  close(): Promise<void> {
    return this.stopServer();
  }
}

describe('docs', () => {
  it('every file=... block is the file it names, and every JSON config passes its schema', () => {
    let checked = 0;
    for (const page of PAGES) {
      for (const b of blocks(page)) {
        if (!b.file) continue;
        expect(b.body, `${page}: the block of ${b.file}`).toBe(read(b.file));
        if (b.lang === 'json') {
          const schema = /serve/.test(b.file) ? serveConfigSchema : trainFileSchema;
          expect(() => parseConfig(schema, JSON.parse(b.body), b.file as string)).not.toThrow();
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(4);
  });

  it('links between the pages point at pages that exist', () => {
    for (const page of PAGES) {
      for (const m of read(page).matchAll(/\]\(([\w./-]+\.md)(#[\w-]+)?\)/g)) {
        expect(() => read(join('docs', m[1] as string)), `${page} links ${m[1]}`).not.toThrow();
      }
    }
  });

  it('the configuration reference lists every field of every schema', () => {
    const text = read('docs/configuration.md');
    const section = (title: string) => {
      const start = text.search(new RegExp(`^#+ ${title}$`, 'm'));
      expect(start, `section ${title}`).toBeGreaterThan(0);
      const rest = text.slice(text.indexOf('\n', start) + 1);
      const end = rest.search(/^#/m);
      return end < 0 ? rest : rest.slice(0, end);
    };
    const keys = (...schemas: { shape: Record<string, unknown> }[]) =>
      schemas.flatMap((s) => Object.keys(s.shape));
    const expected: Record<string, string[]> = {
      'Train config file': keys(trainConfigSchema),
      'Workload options': keys(
        mnistClassifierOptionsSchema,
        matrixFactorizationOptionsSchema,
        ldaOptionsSchema,
      ),
      'Serve config file': keys(serveConfigSchema, servedModelSchema),
      'Model deployment': keys(modelDeploymentSchema),
      Batching: keys(aimdBatchingSchema, quantileBatchingSchema, delayedBatchingSchema, staticBatchingSchema),
      Application: keys(applicationSchema),
      Clipper: keys(clipperConfigSchema, httpFrontendSchema),
      'Hot-load options': keys(hotLoadOptionsSchema),
    };
    for (const [title, fields] of Object.entries(expected)) {
      const body = section(title);
      for (const f of fields) expect(body, `${title} documents \`${f}\``).toContain(`\`${f}\``);
    }
  });

  it('the metrics page names every series the serving side registers', () => {
    const doc = read('docs/metrics.md');
    const sources = ['http/prometheus-metrics.ts', 'hot-load-counters.ts'].map((f) =>
      read(`packages/clipper/src/${f}`),
    );
    const names = sources.flatMap((s) => [...s.matchAll(/name: '(geoml_\w+)'/g)].map((m) => m[1] as string));
    expect(names.length).toBeGreaterThanOrEqual(11);
    for (const n of names) expect(doc, n).toContain(`\`${n}\``);
  });

  it('the TypeScript example runs', async () => {
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--conditions=@geoml/source', 'docs/examples/train-and-serve.ts'],
        { cwd: root, timeout: 170_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/accuracy 0\.\d+/);
    expect(result.stdout).toMatch(/predicted digit \d \(default: false\)/);
  }, 180_000);

  describe('shell examples, in reading order', () => {
    let session: Session;
    beforeAll(async () => {
      session = new Session(await startNatsServer({ jetstream: true }));
    });
    afterAll(async () => {
      await session?.close();
      await session?.nats.close();
    });

    it(
      'getting started: train, publish, serve and query',
      () => session.page('docs/getting-started.md'),
      180_000,
    );
    it('training: one process per region over NATS', () => session.page('docs/training.md'), 180_000);
    it('serving: REST, Open Inference Protocol and admin', () => session.page('docs/serving.md'), 120_000);
    it('metrics: the documented series are served', async () => {
      await session.page('docs/metrics.md');
      const scrape = await session.scrape();
      const doc = read('docs/metrics.md');
      for (const m of doc.matchAll(/^\| `(geoml_\w+)` \| (\w+)/gm)) {
        expect(scrape, `${m[1]} is served`).toContain(`# TYPE ${m[1]} ${m[2]}`);
      }
    }, 60_000);
  });
});

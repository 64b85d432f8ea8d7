#!/usr/bin/env node
// Checks the structure rules of src/ that neither the compiler nor Biome checks (docs/contributing.md):
// no import cycle, no import from a lower layer into a higher one, no function over 80 lines, no line
// over 120 characters. `--figures` prints the counts (for issue notes) and never fails.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseSync } from 'oxc-parser';

/** Lowest first. A file may import its own layer or a lower one. */
const LAYERS = [
  [
    'src/errors.ts',
    'src/json.ts',
    'src/atomic-file.ts',
    'src/text-file.ts',
    'src/format.ts',
    'src/process-liveness.ts',
    'src/state-dir.ts',
    'src/located/',
  ],
  ['src/report/'],
  ['src/inventory/'],
  ['src/context.ts'],
  ['src/transport/'],
  ['src/directory/'],
  ['src/topology/'],
  ['src/backup/'],
  ['src/content/'],
  ['src/restore/'],
  ['src/playbook/'],
  ['src/actions/'],
  ['src/lab/'],
  ['src/operations/'],
  ['src/schedule/'],
  ['src/cli/'],
  ['src/index.ts'],
];
const MAX_FUNCTION_LINES = 80;
const MAX_LINE = 120;

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const figuresOnly = process.argv.includes('--figures');

function tsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return tsFiles(path);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [path] : [];
  });
}

function layerOf(file) {
  const index = LAYERS.findIndex((prefixes) =>
    prefixes.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)),
  );
  return index;
}

function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return starts;
}

function lineOf(starts, offset) {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);

/** Every function with its name (as far as the syntax gives one) and its first and last line. */
function functionsOf(program, starts) {
  const found = [];
  const visit = (node, name) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n, name);
      return;
    }
    let childName = name;
    if (node.type === 'MethodDefinition' || node.type === 'Property' || node.type === 'PropertyDefinition') {
      childName = node.key?.name ?? node.key?.value ?? name;
    } else if (node.type === 'VariableDeclarator') childName = node.id?.name ?? name;
    if (FUNCTION_TYPES.has(node.type)) {
      const fnName = node.id?.name ?? childName ?? '(anonymous)';
      found.push({ name: fnName, from: lineOf(starts, node.start), to: lineOf(starts, node.end) });
      childName = `${fnName}›callback`;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key !== 'type' && value && typeof value === 'object') visit(value, childName);
    }
  };
  visit(program, undefined);
  return found;
}

function importsOf(file, mod) {
  const requests = [
    ...mod.staticImports.map((i) => i.moduleRequest.value),
    ...mod.staticExports.flatMap((e) => e.entries.map((x) => x.moduleRequest?.value).filter(Boolean)),
  ];
  return [...new Set(requests.filter((r) => r.startsWith('.')))].map((r) =>
    relative(root, resolve(root, dirname(file), r.replace(/\.js$/, '.ts'))),
  );
}

/** Tarjan's strongly connected components with more than one file. */
function cycles(graph) {
  let index = 0;
  const stack = [];
  const info = new Map();
  const out = [];
  const strong = (v) => {
    info.set(v, { index, low: index, onStack: true });
    index++;
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!info.has(w)) {
        strong(w);
        info.get(v).low = Math.min(info.get(v).low, info.get(w).low);
      } else if (info.get(w).onStack) info.get(v).low = Math.min(info.get(v).low, info.get(w).index);
    }
    if (info.get(v).low === info.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        info.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!info.has(v)) strong(v);
  return out;
}

const files = tsFiles(join(root, 'src'))
  .map((f) => relative(root, f))
  .sort();
const graph = new Map();
const problems = [];
const figures = {
  files: files.length,
  lines: 0,
  longLines: 0,
  longFunctions: 0,
  longestFunction: '',
  upward: 0,
  cycles: 0,
};
let longest = 0;
const actionCasts = { conversions: 0, arrayChecks: 0 };

for (const file of files) {
  const text = readFileSync(join(root, file), 'utf8');
  const starts = lineStarts(text);
  const lines = text.split('\n');
  figures.lines += lines.length - (text.endsWith('\n') ? 1 : 0);
  lines.forEach((line, i) => {
    if (line.length <= MAX_LINE) return;
    figures.longLines++;
    problems.push(`${file}:${i + 1}: line of ${line.length} characters (at most ${MAX_LINE})`);
  });
  const parsed = parseSync(file, text);
  for (const e of parsed.errors) problems.push(`${file}: does not parse: ${e.message}`);
  const exempt = /structure: data table/.test(text);
  for (const fn of functionsOf(parsed.program, starts)) {
    const span = fn.to - fn.from + 1;
    if (span > longest) {
      longest = span;
      figures.longestFunction = `${file}:${fn.from} ${fn.name} (${span} lines)`;
    }
    if (span > MAX_FUNCTION_LINES && !exempt) {
      figures.longFunctions++;
      problems.push(`${file}:${fn.from}: function ${fn.name} has ${span} lines (at most ${MAX_FUNCTION_LINES})`);
    }
  }
  const targets = importsOf(file, parsed.module);
  graph.set(file, targets);
  const own = layerOf(file);
  if (own < 0) problems.push(`${file}: in no layer (add its folder to LAYERS in scripts/structure.mjs)`);
  for (const target of targets) {
    const theirs = layerOf(target);
    if (own >= 0 && theirs > own) {
      figures.upward++;
      problems.push(`${file}: imports ${target}, a higher layer`);
    }
  }
  if (file.startsWith('src/actions/')) {
    actionCasts.conversions += (text.match(/\b(String|Number|Boolean)\(/g) ?? []).length;
    actionCasts.arrayChecks += (text.match(/Array\.isArray\(/g) ?? []).length;
  }
}
for (const component of cycles(graph)) {
  figures.cycles++;
  problems.push(`import cycle of ${component.length} files: ${component.join(' → ')}`);
}

if (figuresOnly) {
  console.log(JSON.stringify({ ...figures, actionCasts }, null, 2));
} else {
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`structure: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(
    `structure: ${files.length} files, no cycle, no upward import, no function over ${MAX_FUNCTION_LINES} lines`,
  );
}

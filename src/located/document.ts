// Reads inventory YAML into a small located tree. Every node knows its dotted key path and line, so
// each later check can say `<file>:<line>: <key>: <problem>` without going back to the yaml AST.

import {
  LineCounter,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  type Alias,
  type Document,
  type Pair,
  type Scalar,
  type YAMLError,
} from 'yaml';
import { LocatedError } from './located-error.js';

export type DocNode = DocMap | DocSeq | DocScalar;

export interface DocMap {
  kind: 'map';
  path: string;
  line: number;
  entries: DocEntry[];
}

export interface DocEntry {
  key: string;
  keyLine: number;
  value: DocNode;
}

interface DocSeq {
  kind: 'seq';
  path: string;
  line: number;
  items: DocNode[];
}

interface DocScalar {
  kind: 'scalar';
  path: string;
  line: number;
  value: string | number | boolean | null;
  /** A tag the caller allowed (e.g. Ansible's `!vault`); its value stays the text. */
  tag?: string;
}

/** Aliases can expand exponentially ("billion laughs"); an inventory never needs this many nodes. */
const MAX_NODES = 100_000;

/** A name as it may appear in a one-line message: quoted, with control characters escaped. */
export function quote(name: string): string {
  const { text, note } = shortened(name);
  return `${/^[\x20-\x7e]*$/.test(text) ? `'${text}'` : JSON.stringify(text)}${note}`;
}

/** Plain printable text as it is; anything else (line breaks, control characters, a huge value) quoted. */
export function plain(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) && text.length <= MAX_SHOWN ? text : quote(text);
}

/** Keys become part of dotted paths; escape anything that could break the one-line message. */
function displayKey(key: string): string {
  const { text, note } = shortened(key);
  return `${/^[\x21-\x7e]+$/.test(text) ? text : JSON.stringify(text)}${note}`;
}

/** A huge value (a pasted file, a fuzzer's 100 KB string) is shown by its start and its length. */
const MAX_SHOWN = 60;
function shortened(value: string): { text: string; note: string } {
  const chars = [...value];
  return chars.length <= MAX_SHOWN
    ? { text: value, note: '' }
    : { text: `${chars.slice(0, MAX_SHOWN).join('')}…`, note: ` (${chars.length} characters)` };
}

export function childPath(parent: string, key: string): string {
  return parent === '' ? displayKey(key) : `${parent}.${displayKey(key)}`;
}

/**
 * Parses `text` (one YAML document) or throws the first problem as a LocatedError. Empty → null.
 * `tags`: local tags (`!vault`) read as their text and named on the node; any other tag is refused.
 */
export function readDocument(text: string, file: string, tags: readonly string[] = []): DocNode | null {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false, // pretty errors quote the source line, which may hold a secret
    uniqueKeys: false, // duplicates are reported below, with the key path and both lines
    customTags: tags.map((tag) => ({ tag, resolve: (value: string) => value })),
  });
  const lineAt = (offset: number): number => Math.max(1, lineCounter.linePos(offset).line);
  refuseYamlProblems(doc, file, lineAt);
  if (doc.contents === null) return null;
  return new TreeBuilder(doc, file, lineAt).node(doc.contents, '', 1);
}

/** Throws the parser's first error or warning: an unresolved tag such as `!vault` would otherwise be a string. */
function refuseYamlProblems(doc: Document, file: string, lineAt: (offset: number) => number): void {
  const problems = [...doc.errors, ...doc.warnings].sort((a, b) => a.pos[0] - b.pos[0]);
  const first = problems[0];
  if (!first) return;
  // A second document is not inside any key of the first; naming one would mislead.
  const path = first.code === 'MULTIPLE_DOCS' ? '' : pathAt(doc, first.pos[0]);
  throw new LocatedError(file, lineAt(first.pos[0]), path || undefined, describeYamlProblem(first));
}

/** Builds the located tree of one parsed document, refusing what an input file must not hold. */
class TreeBuilder {
  private nodeCount = 0;
  /** Collections being built: an alias to one of them is a cycle. */
  private readonly inProgress = new Set<unknown>();

  constructor(
    private readonly doc: Document,
    private readonly file: string,
    private readonly lineAt: (offset: number) => number,
  ) {}

  /** `fallbackLine`: the line to point at when the node has no text of its own (its key's line). */
  node(node: unknown, path: string, fallbackLine: number): DocNode {
    if (++this.nodeCount > MAX_NODES) {
      this.fail(fallbackLine, path, `too many YAML nodes (over ${MAX_NODES}); check anchors and aliases`);
    }
    if (isAlias(node)) return this.node(this.aliasTarget(node, path), path, fallbackLine);
    const line =
      node !== null && typeof node === 'object' && 'range' in node && Array.isArray(node.range)
        ? this.lineAt(node.range[0] as number)
        : fallbackLine;
    if (node === null || node === undefined) return { kind: 'scalar', path, line: fallbackLine, value: null };
    if (isScalar(node)) return scalarNode(node, path, line, fallbackLine);
    if (isSeq(node)) {
      this.inProgress.add(node);
      const items = node.items.map((item, i) => this.node(item, `${path}[${i}]`, line));
      this.inProgress.delete(node);
      return { kind: 'seq', path, line, items };
    }
    if (isMap(node)) {
      this.inProgress.add(node);
      const entries = this.entries(node.items, path, line);
      this.inProgress.delete(node);
      return { kind: 'map', path, line, entries };
    }
    return { kind: 'scalar', path, line, value: String(node) };
  }

  private aliasTarget(node: Alias, path: string): unknown {
    const target = node.resolve(this.doc);
    const line = this.lineAt(node.range?.[0] ?? 0);
    if (target === undefined) this.fail(line, path, `unknown alias *${node.source}`);
    if (this.inProgress.has(target)) this.fail(line, path, `alias *${node.source} refers to itself`);
    return target;
  }

  /** A mapping's entries: keys plain names, each once, no merge keys. */
  private entries(pairs: Pair[], path: string, line: number): DocEntry[] {
    const entries: DocEntry[] = [];
    const seen = new Map<string, number>();
    for (const pair of pairs) {
      const keyNode = pair.key;
      const keyLine =
        isScalar(keyNode) || isAlias(keyNode) || isMap(keyNode) || isSeq(keyNode)
          ? this.lineAt(keyNode.range?.[0] ?? 0)
          : line;
      if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === 'object') {
        this.fail(keyLine, path, 'keys must be plain names, not lists, mappings or aliases');
      }
      // The source text, not the parsed value: a host named `10` or `true` keeps its spelling.
      const key = keyNode.source ?? String(keyNode.value);
      const keyPath = childPath(path, key);
      if (key === '<<' && keyNode.type === 'PLAIN') {
        this.fail(
          keyLine,
          keyPath,
          'YAML merge keys (<<) are not supported; share settings through group vars instead',
        );
      }
      const earlier = seen.get(key);
      if (earlier !== undefined) this.fail(keyLine, keyPath, `duplicate key (first set at line ${earlier})`);
      seen.set(key, keyLine);
      entries.push({ key, keyLine, value: this.node(pair.value, keyPath, keyLine) });
    }
    return entries;
  }

  private fail(line: number, path: string, problem: string): never {
    throw new LocatedError(this.file, line, path || undefined, problem);
  }
}

function scalarNode(node: Scalar, path: string, line: number, fallbackLine: number): DocScalar {
  const v = node.value;
  const value =
    v === null || v === undefined
      ? null
      : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
        ? v
        : String(v);
  // An empty value (`key:`) has no text of its own; its key's line is the one to point at.
  const scalar: DocScalar = { kind: 'scalar', path, line: value === null ? fallbackLine : line, value };
  if (node.tag?.startsWith('!') && !node.tag.startsWith('!!')) scalar.tag = node.tag;
  return scalar;
}

/** The library's wording is written for programmers; a few cases get a message an operator can act on. */
function describeYamlProblem(err: YAMLError): string {
  const text = err.message.split('\n')[0] ?? '';
  switch (err.code) {
    case 'MULTIPLE_DOCS':
      return "YAML syntax error: an inventory is a single YAML document; remove the '---' separator";
    case 'TAG_RESOLVE_FAILED':
      return `YAML tags are not supported (${text}); secrets come from file:PATH, env:NAME or prompt`;
    default:
      return `YAML syntax error: ${text.replace(/ at line \d+, column \d+$/, '')}`;
  }
}

/** Best-effort dotted path of the deepest mapping key whose value contains `offset`. */
function pathAt(doc: Document, offset: number): string {
  let path = '';
  let node: unknown = doc.contents;
  for (let depth = 0; depth < 100 && node; depth++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        if (!isPair(p)) return false;
        const start = isScalar(p.key) ? p.key.range?.[0] : undefined;
        const end =
          (p.value as { range?: number[] } | null)?.range?.[2] ?? (isScalar(p.key) ? p.key.range?.[2] : undefined);
        return start !== undefined && end !== undefined && start <= offset && offset <= end;
      });
      if (!pair || !isScalar(pair.key)) break;
      path = childPath(path, pair.key.source ?? String(pair.key.value));
      node = pair.value;
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => {
        const range = (item as { range?: number[] } | null)?.range;
        return range !== undefined && range[0]! <= offset && offset <= range[2]!;
      });
      if (index < 0) break;
      path = `${path}[${index}]`;
      node = node.items[index];
    } else {
      break;
    }
  }
  // A deeply nested document must not turn the location into a paragraph.
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

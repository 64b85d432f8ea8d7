// Secret masking for every log line, event and command echo. Each run owns one Redactor and
// registers every secret it resolves (passwords, passphrases) before anything is logged.

const MASK = '********';

/**
 * Shortest base64 run we mask when the secret sits inside a larger encoded value (e.g. the
 * password in `Basic base64(user:password)`): shorter runs would mask innocent base64 text.
 */
const MIN_EMBEDDED_BASE64 = 8;

export class Redactor {
  /** Literal strings to mask: each secret and its encoded forms. */
  private readonly patterns = new Set<string>();

  /**
   * Register a secret. Every non-empty secret is masked, however short: a one-character
   * secret masks that character everywhere, because over-masking a log beats leaking a secret.
   */
  add(secret: string | undefined): void {
    if (!secret) return;
    for (const form of encodedForms(secret)) {
      if (form !== '') this.patterns.add(form);
    }
  }

  /**
   * Replace every occurrence of every registered form with `********`. Occurrences are collected
   * first and overlapping ones merged, so two secrets sharing characters are both hidden in full
   * (a plain longest-first replace would leave the tail of the second one visible).
   */
  mask(text: string): string {
    if (this.patterns.size === 0 || text === '') return text;
    const ranges: [start: number, end: number][] = [];
    for (const pattern of this.patterns) {
      for (let at = text.indexOf(pattern); at !== -1; at = text.indexOf(pattern, at + 1)) {
        ranges.push([at, at + pattern.length]);
      }
    }
    if (ranges.length === 0) return text;
    ranges.sort((a, b) => a[0] - b[0]);
    let out = '';
    let cursor = 0;
    let [start, end] = ranges[0]!;
    for (const [s, e] of ranges.slice(1)) {
      if (s <= end) {
        end = Math.max(end, e);
        continue;
      }
      out += text.slice(cursor, start) + MASK;
      cursor = end;
      [start, end] = [s, e];
    }
    return out + text.slice(cursor, start) + MASK + text.slice(end);
  }

  /**
   * Deep copy of `value` with every string (keys included) masked, for JSON logs and events.
   * Errors keep their prototype (so `instanceof` and winston's error formatting still work) with
   * message, stack, cause and own fields masked. Other non-plain objects become what
   * JSON.stringify would see: their `toJSON()` result, or their own enumerable fields.
   * The input is never modified.
   */
  maskValue(value: unknown): unknown {
    if (this.patterns.size === 0) return value;
    return this.maskDeep(value, new WeakMap());
  }

  private maskDeep(value: unknown, seen: WeakMap<object, unknown>): unknown {
    if (typeof value === 'string') return this.mask(value);
    if (typeof value !== 'object' || value === null) return value;
    if (seen.has(value)) return seen.get(value);
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;

    if (Array.isArray(value)) {
      const copy: unknown[] = [];
      seen.set(value, copy);
      for (const item of value) copy.push(this.maskDeep(item, seen));
      return copy;
    }
    if (value instanceof Error) {
      const copy = Object.create(Object.getPrototypeOf(value) as object) as Error;
      seen.set(value, copy);
      for (const key of Object.getOwnPropertyNames(value)) {
        const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
        if ('value' in descriptor) descriptor.value = this.maskDeep(descriptor.value, seen);
        Object.defineProperty(copy, key, descriptor);
      }
      return copy;
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return this.maskDeep(toJSON.call(value), seen);

    const copy: Record<string, unknown> = {};
    seen.set(value, copy);
    for (const [key, item] of Object.entries(value)) copy[this.mask(key)] = this.maskDeep(item, seen);
    return copy;
  }
}

/** The secret as it may appear in logs: raw, trimmed, base64, URL-, JSON- and shell-quoted. */
function encodedForms(secret: string): string[] {
  const forms = [secret, secret.trim()];
  forms.push(...base64Forms(Buffer.from(secret, 'utf8')));
  try {
    const url = encodeURIComponent(secret);
    forms.push(
      url,
      url.replace(/%20/g, '+'),
      url.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
    );
  } catch {
    // Lone surrogates cannot be URL-encoded, so they cannot leak that way either.
  }
  forms.push(JSON.stringify(secret).slice(1, -1));
  forms.push(secret.replaceAll("'", `'\\''`));
  return forms;
}

/**
 * The secret's own base64 (standard and base64url), plus the characters that stay the same when
 * it is encoded inside a longer value at each of the three byte alignments. Characters straddling
 * the secret's edges depend on neighbouring bytes and are left out.
 */
function base64Forms(bytes: Buffer): string[] {
  const standard = [bytes.toString('base64')];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const core = encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
    if (core.length >= MIN_EMBEDDED_BASE64) standard.push(core);
  }
  return [...standard, ...standard.map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''))];
}

// Near-miss suggestions for mistyped keys and names ("did you mean identity_file?").

/** Spelling-insensitive form: `identityFile`, `IdentityFile` and `identity-file` all match `identity_file`. */
function fold(word: string): string {
  return word.toLowerCase().replace(/[_-]/g, '');
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The closest candidate to `word`, or undefined when nothing is close enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const folded = fold(word);
  const exact = candidates.find((c) => fold(c) === folded);
  if (exact !== undefined) return exact;
  // A truncated name (`child` for `children`) is far in edit distance but plainly meant.
  const extensions = folded.length >= 3 ? candidates.filter((c) => fold(c).startsWith(folded)) : [];
  if (extensions.length === 1) return extensions[0];
  const limit = Math.max(1, Math.floor(folded.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const distance = editDistance(folded, fold(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

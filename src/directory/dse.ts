// Offline edits of an instance's dse.ldif (the server is stopped while it is rewritten).

/**
 * Every replication agreement in `dse` with `nsds5ReplicaEnabled: off`: a configuration put back
 * by a FULL restore must not start replicating with peers that still hold the old data.
 * Other entries, and the file's line endings and folding, are left as they are.
 */
export function disableAgreementsInDse(dse: string): { text: string; agreements: number } {
  const eol = dse.includes('\r\n') ? '\r\n' : '\n';
  const entries = dse.split(/(?:\r?\n){2,}/);
  let agreements = 0;
  const out = entries.map((whole) => {
    const trailing = /(?:\r?\n)*$/.exec(whole)![0];
    const entry = whole.slice(0, whole.length - trailing.length);
    const lines = entry.split(/\r?\n/);
    const isAgreement = lines.some((l) => /^objectclass:\s*nsds5replicationagreement\s*$/i.test(l));
    if (!isAgreement) return whole;
    agreements++;
    const kept: string[] = [];
    let skipping = false;
    for (const line of lines) {
      // A folded value continues on lines that start with one space.
      if (skipping && line.startsWith(' ')) continue;
      skipping = /^nsds5replicaenabled:/i.test(line);
      if (!skipping) kept.push(line);
    }
    kept.push('nsds5ReplicaEnabled: off');
    return kept.join(eol) + trailing;
  });
  // split() dropped the separators: entries were separated by exactly one blank line in dse.ldif.
  return { text: out.join(eol + eol), agreements };
}

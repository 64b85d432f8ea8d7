// ipa-fleet as a library: the example program of docs/library.md, taken from the document itself,
// runs twice in this one process against a real lab (a↔b↔c, CA on a and b). Each time it backs up
// the fleet and restores the whole deployment from a's new snapshot; both runs must leave every host
// converged on a new generation, and the second must have restored the second snapshot.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  addUsers,
  assertConverged,
  bringUpLab,
  DOMAIN,
  generation,
  labDirectory,
  makeKeys,
  ROOT,
  uids,
  waitForUsers,
  type LabDirectory,
  type TestLab,
} from './fixture.js';

const A = 'a.ipa.test';
const B = 'b.ipa.test';
const C = 'c.ipa.test';

interface Example {
  backUpAndRestore(opts: {
    inventoryFile: string;
    master: string;
    store: string;
    keys: { publicKey: string; privateKey: string; passphrase: string };
    stateDir: string;
    logFile: string;
  }): Promise<{ snapshot: string; restoreRun: string; seconds: Record<string, Record<string, number>> }>;
}

/** The example between the markers of docs/library.md, importing this build instead of the package. */
async function loadExample(dir: string): Promise<Example> {
  const doc = await readFile(join(ROOT, 'docs', 'library.md'), 'utf8');
  const block = /<!-- library example: begin -->\n```js\n([\s\S]*?)\n```\n<!-- library example: end -->/.exec(doc);
  assert.ok(block, 'docs/library.md: the example between its markers');
  const index = pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href;
  const code = block[1]!.replace(/from 'ipa-fleet';/g, `from ${JSON.stringify(index)};`);
  assert.notEqual(code, block[1], "the example imports from 'ipa-fleet'");
  const file = join(dir, 'library-example.mjs');
  await writeFile(file, code);
  return (await import(pathToFileURL(file).href)) as Example;
}

describe('the library example of docs/library.md, twice in one process', { timeout: 30 * 60_000 }, () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let example: Example;
  let run: () => ReturnType<Example['backUpAndRestore']>;

  before(async () => {
    lab = await bringUpLab();
    dir = await labDirectory(lab, 3);
    const keys = await makeKeys(lab.tmp);
    example = await loadExample(lab.tmp);
    run = () =>
      example.backUpAndRestore({
        inventoryFile: lab.paths.inventory,
        master: A,
        store: join(lab.tmp, 'store'),
        keys: { publicKey: keys.pub, privateKey: keys.sec, passphrase: keys.pass },
        stateDir: join(lab.tmp, 'library-state'),
        logFile: lab.logFile,
      });
  });

  after(async () => {
    await lab?.down();
  });

  it('backs up and restores, then again from the new snapshot: every host converged each time', async () => {
    const baseline = await uids(dir, A);
    assert.equal(baseline.length, 200);
    const generations = [await generation(dir, A, DOMAIN)];

    const first = await run();
    await assertConverged(dir, baseline, [A, B]);
    generations.push(await generation(dir, A, DOMAIN));
    for (const host of dir.hosts) assert.ok(first.seconds[host]?.fence !== undefined, `${host}: fence timed`);

    // A user added after the first restore is in the second snapshot, so the second restore keeps it.
    await addUsers(dir, C, ['library-second']);
    const want = [...baseline, 'library-second'].sort();
    await waitForUsers(dir, want);
    const second = await run();
    await assertConverged(dir, want, [A, B]);
    generations.push(await generation(dir, A, DOMAIN));

    assert.notEqual(second.snapshot, first.snapshot);
    assert.notEqual(second.restoreRun, first.restoreRun);
    assert.equal(new Set(generations).size, 3, `a new generation per restore: ${generations.join(', ')}`);
  });
});

// The openssh transport's hint on a failed login (src/transport/kerberos-hint.ts): only when the host still
// offered gssapi-with-mic, and then whether the controller's credential cache holds a valid ticket, as MIT's
// `klist -s` (which CI installs) judges it. The refused-ticket case needs a realm: test/lab/kerberos.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kerberosHint } from '../../src/transport/kerberos-hint.js';

const DENIED_GSSAPI = 'root@10.0.0.1: Permission denied (publickey,gssapi-keyex,gssapi-with-mic).';
const DENIED_KEY_ONLY = 'root@10.0.0.1: Permission denied (publickey).';
const KLIST = ['/usr/bin/klist', '/bin/klist'].some((p) => existsSync(p));

describe('kerberosHint', () => {
  it('says nothing when the host did not offer Kerberos, or ssh failed otherwise', async () => {
    for (const stderr of [DENIED_KEY_ONLY, 'ssh: connect to host 10.0.0.1 port 22: Connection refused', '']) {
      assert.equal(await kerberosHint(stderr, { PATH: process.env.PATH }), undefined, stderr);
    }
  });

  it('names the empty credential cache when the host offered gssapi-with-mic', {
    skip: !KLIST && 'no klist',
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipa-fleet-krb5cc-'));
    try {
      const cache = `FILE:${join(dir, 'krb5cc')}`;
      const hint = await kerberosHint(`Warning: x\n${DENIED_GSSAPI}\n`, { PATH: process.env.PATH, KRB5CCNAME: cache });
      assert.equal(
        hint,
        `no valid Kerberos ticket in ${cache} (klist -s); run kinit first if the host takes Kerberos logins`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says nothing it cannot know: without klist there is no hint', async () => {
    assert.equal(await kerberosHint(DENIED_GSSAPI, { PATH: '/nonexistent' }), undefined);
  });
});

// The lab's sshd_config as the real sshd (which CI installs) judges it: `sshd -t` on the file that
// `lab up` writes. No lab comes up; sshd only reads the file and the host key.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshdConfig } from '../../src/lab/host-files.js';
import { LabPaths } from '../../src/lab/paths.js';
import { LAB_DEFAULTS, type LabHost, labSpec } from '../../src/lab/spec.js';

const SSHD = '/usr/sbin/sshd';
const HOST_A: LabHost = labSpec(LAB_DEFAULTS).hosts[0]!;

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ipa-fleet-sshd-config-'));
  // sshd -t refuses to check anything without its privilege separation directory, which a lab host's
  // boot script creates (src/lab/host-files.ts) and a machine that never ran sshd may lack.
  mkdirSync('/run/sshd', { recursive: true });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('the lab sshd_config', () => {
  // With a lab folder whose path has a space (lab up --dir "/tmp/my lab"), unquoted paths made sshd
  // refuse the file ("HostKey extra arguments at end of line").
  it('sshd accepts the lab sshd_config when the lab folder has a space', () => {
    const check = (root: string): ReturnType<typeof spawnSync> => {
      const paths = new LabPaths(root);
      const dir = paths.hostDir(HOST_A.fqdn);
      mkdirSync(join(dir, 'ssh'), { recursive: true });
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ssh', 'host_ed25519')]);
      const file = join(dir, 'sshd_config');
      writeFileSync(file, sshdConfig(paths, HOST_A));
      return spawnSync(SSHD, ['-t', '-f', file], { encoding: 'utf8' });
    };
    const control = check(join(tmp, 'plain-lab'));
    assert.equal(control.status, 0, `sshd -t fails even without spaces: ${String(control.stderr)}`);
    const spaced = check(join(tmp, 'my lab'));
    assert.equal(spaced.status, 0, String(spaced.stderr));
  });

  it("a --kerberos lab's: sshd's effective settings accept GSSAPI with any key of the host keytab", () => {
    const paths = new LabPaths(join(tmp, 'kerberos lab'));
    const dir = paths.hostDir(HOST_A.fqdn);
    mkdirSync(join(dir, 'ssh'), { recursive: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ssh', 'host_ed25519')]);
    const file = join(dir, 'sshd_config');
    const effective = (text: string): string[] => {
      writeFileSync(file, text);
      const r = spawnSync(SSHD, ['-T', '-f', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, String(r.stderr));
      return String(r.stdout)
        .split('\n')
        .filter((l) => /^gssapi(authentication|strictacceptorcheck) /.test(l))
        .sort();
    };
    const realm = { realm: 'IPA.TEST', kdcAddress: '127.0.10.250' };
    assert.deepEqual(effective(sshdConfig(paths, HOST_A, { kerberos: realm })), [
      'gssapiauthentication yes',
      'gssapistrictacceptorcheck no',
    ]);
    assert.deepEqual(effective(sshdConfig(paths, HOST_A)), [
      'gssapiauthentication no',
      'gssapistrictacceptorcheck yes',
    ]);
  });
});

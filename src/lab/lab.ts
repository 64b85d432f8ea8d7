// `ipa-fleet lab …`: real replicated 389-DS hosts on this machine (LAB.md, automated).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RunContext } from '../context.js';
import { FleetError, UsageError } from '../errors.js';
import { createAgreement, initializeConsumer } from '../directory/agreements.js';
import { enableSupplier, ensureReplicationManager } from '../directory/replica.js';
import { importSummary } from '../directory/task-counts.js';
import { runTask } from '../directory/tasks.js';
import { exportForInit, importFromSupplier, initExportPath, removeRemoteFile } from '../restore/reinit.js';
import { loadInventory } from '../inventory/index.js';
import type { Host, Inventory } from '../inventory/model.js';
import { Transport } from '../transport/transport.js';
import { shellQuote } from '../transport/shell.js';
import { caLdif, domainLdif } from './entries.js';
import { ipaDomainLdif } from './ipa-data.js';
import { configureIpaPlugins, IPA_FRACTIONAL, idRange, shortenReplicationBackoff } from './ipa-plugins.js';
import { IPA_SCHEMA_FILE, ipaSchemaLdif } from './ipa-schema.js';
import {
  createRealm,
  KERBEROS_PACKAGES,
  kinitRoot,
  missingKerberosFiles,
  realmEnv,
  rootPrincipal,
  stopKdc,
  writeRealmFiles,
} from './kerberos.js';
import { KDC_PORT } from './kerberos-files.js';
import { bootScript, defaultsInf, dsInf, etcHosts, rewriteListen, sshdConfig, sudoersFile } from './host-files.js';
import { LabPaths } from './paths.js';
import { isRunning, readPid, runWithInput, spawnDetached, stopProcess, killProcess, waitForPort } from './processes.js';
import { formatSeconds } from '../format.js';
import {
  initOrder,
  labHostInventoryName,
  labSpec,
  LAB_CA_SUFFIX,
  LAB_INSTANCE,
  LAB_SUFFIX,
  type LabHost,
  type LabOptions,
  type LabRealm,
  type LabSpec,
  type LabSudo,
} from './spec.js';

const run = promisify(execFile);
const DIRSRV_USER = 'dirsrv';
const PACKAGES = ['389-ds-base', 'openssh-server'];
const INIT_TIMEOUT_MS = 15 * 60_000;

/** What `lab.json` records: enough to find and end every process the lab started. */
export interface LabState {
  version: 1;
  createdAt: string;
  spec: LabSpec;
  upSeconds?: number;
}

export type Print = (line: string) => void;

export async function labUp(paths: LabPaths, opts: LabOptions, ctx: RunContext, print: Print): Promise<LabState> {
  return labUpSpec(paths, labSpec(opts), ctx, print);
}

/** Builds the lab a spec describes: `lab up`'s, or a drill's sandbox shaped like a deployment. */
export async function labUpSpec(paths: LabPaths, spec: LabSpec, ctx: RunContext, print: Print): Promise<LabState> {
  const started = Date.now();
  if (existsSync(paths.state)) {
    throw new UsageError(`a lab already exists in ${paths.root}; run 'ipa-fleet lab down --dir ${paths.root}' first`);
  }
  await ensurePackages(print, spec.kerberos !== undefined);
  await assertAddressesFree(spec);
  print(`lab: building ${spec.hosts.length} host(s) in ${paths.root}`);
  await mkdir(paths.hostsRoot, { recursive: true, mode: 0o700 });
  const state: LabState = { version: 1, createdAt: new Date().toISOString(), spec };
  // Written first so that `lab down` can clean up after a failed `up`.
  await writeFile(paths.state, JSON.stringify(state, null, 2));
  try {
    await writeControllerFiles(paths, spec);
    if (spec.sudo) await ensureSudoUser(spec.sudo);
    await Promise.all(spec.hosts.map((h) => writeHostFiles(paths, h, spec)));
    await writeInventory(paths, spec);
    if (spec.kerberos) {
      await writeRealmFiles(paths, spec, spec.kerberos);
      await createRealm(paths, spec, spec.kerberos);
      print(
        `lab: realm ${spec.kerberos.realm}: KDC up on ${spec.kerberos.kdcAddress}:${KDC_PORT}, host keytabs written`,
      );
    }
    for (const host of spec.hosts) await bootHost(paths, host);
    print(`lab: sshd up on ${spec.hosts.map((h) => h.address).join(', ')} (${formatSeconds(Date.now() - started)})`);

    const inventory = await loadInventory(paths.inventory);
    const transport = new Transport(inventory, ctx);
    try {
      const dmPassword = (await readFile(paths.dmPassword, 'utf8')).trim();
      ctx.redactor.add(dmPassword);
      const data = domainData(spec);
      await inParallel(spec.hosts, 3, async (h) => {
        await createInstance(paths, transport, hostOf(inventory, h), h, spec.instance, dmPassword);
        if (data.idsUsed !== undefined) await makeIpaShaped(transport, hostOf(inventory, h), h, data.idsUsed);
      });
      print(`lab: 389-DS instances running (${formatSeconds(Date.now() - started)})`);
      await configureReplication(paths, spec, data.ldif, inventory, transport, ctx, print);
      // DNA's shared range entry and the managed-entry definitions arrived by import or total update,
      // which no plugin watches: each reads them when it starts.
      if (spec.data === 'ipa')
        await inParallel(spec.hosts, 3, (h) => restartInstance(transport, hostOf(inventory, h), spec.instance));
    } finally {
      await transport.close();
    }
  } catch (err) {
    // A half-built lab is of no use and holds addresses: take it down again.
    print(`lab: building failed; removing what was built`);
    await teardown(paths, spec, () => undefined).catch(() => undefined);
    throw err;
  }
  state.upSeconds = Math.round((Date.now() - started) / 100) / 10;
  await writeFile(paths.state, JSON.stringify(state, null, 2));
  print(`lab: up in ${state.upSeconds} s`);
  print(`  inventory:   ${paths.inventory}`);
  print(`  ssh key:     ${paths.identity}   known_hosts: ${paths.knownHosts}`);
  print(`  DM password: ${paths.dmPassword} (0600)`);
  print(`  try:         ipa-fleet inventory check -i ${paths.inventory}`);
  print(
    `               ssh -i ${paths.identity} -o UserKnownHostsFile=${paths.knownHosts} ` +
      `${spec.sudo?.user ?? 'root'}@${spec.hosts[0]!.address}`,
  );
  if (spec.kerberos) printRealm(paths, spec.kerberos, print);
  return state;
}

function printRealm(paths: LabPaths, realm: LabRealm, print: Print): void {
  print(`  realm:       ${realm.realm}, KDC ${realm.kdcAddress}:${KDC_PORT}`);
  print(`  ${rootPrincipal(realm)}: password in ${paths.rootPrincipalPassword} (0600)`);
  print(`  Kerberos:    ipa-fleet lab kinit --dir ${paths.root}   (then export the two variables it prints)`);
  print(`               ipa-fleet ping -i ${paths.kerberosInventory}`);
}

/**
 * A ticket for root@REALM in the lab's credential cache; returns the environment that uses it
 * (KRB5_CONFIG and KRB5CCNAME, for ipa-fleet, ssh and klist alike).
 */
export async function labKinit(paths: LabPaths): Promise<{ principal: string; env: Record<string, string> }> {
  const { spec } = await readLabState(paths);
  if (!spec.kerberos) {
    throw new UsageError(
      `the lab in ${paths.root} has no Kerberos realm; build it with 'ipa-fleet lab up --kerberos --dir ${paths.root}'`,
    );
  }
  await kinitRoot(paths, spec.kerberos);
  return { principal: rootPrincipal(spec.kerberos), env: realmEnv(paths) };
}

async function readLabState(paths: LabPaths): Promise<LabState> {
  try {
    return JSON.parse(await readFile(paths.state, 'utf8')) as LabState;
  } catch {
    throw new UsageError(
      `no lab in ${paths.root} (no lab.json); run 'ipa-fleet lab ` +
        `up${paths.root === LabPaths.default().root ? '' : ` --dir ${paths.root}`}'`,
    );
  }
}

/** Ends the lab's own processes (by pid, checked) and removes what it created. */
export async function labDown(paths: LabPaths, print: Print): Promise<void> {
  const state = await readLabState(paths);
  await teardown(paths, state.spec, print);
}

/** The lab's spec as `lab.json` recorded it. */
async function labSpecOf(paths: LabPaths): Promise<LabSpec> {
  return (await readLabState(paths)).spec;
}

async function teardown(paths: LabPaths, spec: LabSpec, print: Print): Promise<void> {
  // In parallel: each ns-slapd takes seconds to flush after SIGTERM.
  await Promise.all([
    ...(spec.kerberos
      ? [stopKdc(paths).then((stopped) => print(`lab: ${stopped ? 'KDC stopped' : 'KDC not running'}`))]
      : []),
    ...spec.hosts.map(async (host) => {
      const { slapd, sshd } = await powerOff(paths, spec, host);
      print(
        `lab: ${host.fqdn}: ${slapd ? 'ns-slapd stopped' : 'ns-slapd not running'}, ` +
          `${sshd ? 'sshd stopped' : 'sshd not running'}`,
      );
    }),
  ]);
  await rm(paths.root, { recursive: true, force: true });
  print(`lab: removed ${paths.root}`);
}

export interface HostStatus {
  host: string;
  address: string;
  ssh: boolean;
  ds: boolean;
  entries: Record<string, number | null>;
  error?: string;
}

export async function labStatus(paths: LabPaths, ctx: RunContext): Promise<HostStatus[]> {
  const state = await readLabState(paths);
  const inventory = await loadInventory(paths.inventory);
  const transport = new Transport(inventory, ctx);
  try {
    return await Promise.all(
      state.spec.hosts.map(async (h): Promise<HostStatus> => {
        const status: HostStatus = { host: h.fqdn, address: h.address, ssh: false, ds: false, entries: {} };
        status.ssh = await isRunning(await readPid(paths.sshdPidFile(h.fqdn)), 'sshd');
        status.ds = await isRunning(await readPid(paths.slapdPidFile(h.fqdn, instanceOf(state.spec))), 'ns-slapd');
        if (!status.ssh || !status.ds) return status;
        try {
          const ldap = await transport.ldap(hostOf(inventory, h));
          const suffixes = state.spec.suffixes ?? { domain: LAB_SUFFIX, ca: LAB_CA_SUFFIX };
          for (const suffix of h.ca ? [suffixes.domain, suffixes.ca] : [suffixes.domain]) {
            status.entries[suffix] = (await ldap.search(suffix, { attributes: ['1.1'], paged: true })).length;
          }
        } catch (err) {
          status.error = (err as Error).message;
        }
        return status;
      }),
    );
  } finally {
    await transport.close();
  }
}

/** "Power off" a host: ns-slapd and sshd stopped, data kept. */
export async function labStopHost(paths: LabPaths, name: string, print: Print): Promise<void> {
  const host = await findLabHost(paths, name);
  const { slapd, sshd } = await powerOff(paths, await labSpecOf(paths), host);
  print(
    `lab: ${host.fqdn} powered off (${slapd ? 'ns-slapd stopped' : 'ns-slapd was not running'}, ` +
      `${sshd ? 'sshd stopped' : 'sshd was not running'})`,
  );
}

/** ns-slapd first (it flushes for seconds after SIGTERM), then sshd, which ends the namespace. */
async function powerOff(paths: LabPaths, spec: LabSpec, host: LabHost): Promise<{ slapd: boolean; sshd: boolean }> {
  const pidFile = paths.slapdPidFile(host.fqdn, instanceOf(spec));
  const slapd = await stopProcess(await readPid(pidFile), 'ns-slapd', 60_000);
  const sshd = await stopProcess(await readPid(paths.sshdPidFile(host.fqdn)), 'sshd', 10_000);
  await stopProcess(await readPid(paths.nsPidFile(host.fqdn)), 'unshare', 5_000);
  return { slapd, sshd };
}

/** "Power on" a host: a new namespace with its data, sshd, then the instance. */
export async function labStartHost(paths: LabPaths, name: string, ctx: RunContext, print: Print): Promise<void> {
  const host = await findLabHost(paths, name);
  if (!(await isRunning(await readPid(paths.sshdPidFile(host.fqdn)), 'sshd'))) await bootHost(paths, host);
  const inventory = await loadInventory(paths.inventory);
  const transport = new Transport(inventory, ctx);
  try {
    const ssh = await transport.ssh(hostOf(inventory, host));
    const instance = instanceOf(await labSpecOf(paths));
    if (!(await isRunning(await readPid(paths.slapdPidFile(host.fqdn, instance)), 'ns-slapd'))) {
      await ssh.run(`dsctl ${instance} start`, { timeoutMs: 120_000 });
    }
  } finally {
    await transport.close();
  }
  print(`lab: ${host.fqdn} powered on`);
}

/** A directory crash: SIGKILL to the host's ns-slapd. */
export async function labKillDs(paths: LabPaths, name: string, print: Print): Promise<void> {
  const host = await findLabHost(paths, name);
  const pidFile = paths.slapdPidFile(host.fqdn, instanceOf(await labSpecOf(paths)));
  const killed = await killProcess(await readPid(pidFile), 'ns-slapd');
  print(killed ? `lab: ${host.fqdn}: ns-slapd killed` : `lab: ${host.fqdn}: ns-slapd was not running`);
}

/** A lab.json written before specs named their instance is of the default one. */
function instanceOf(spec: LabSpec): string {
  return spec.instance ?? LAB_INSTANCE;
}

async function findLabHost(paths: LabPaths, name: string): Promise<LabHost> {
  const state = await readLabState(paths);
  const host = state.spec.hosts.find((h) => [h.fqdn, h.short, h.address, h.name].includes(name));
  if (!host)
    throw new UsageError(
      `'${name}' is not a host of the lab in ${paths.root} (hosts: ${state.spec.hosts.map((h) => h.fqdn).join(', ')})`,
    );
  return host;
}

async function ensurePackages(print: Print, kerberos: boolean): Promise<void> {
  const missing = ['/usr/sbin/dscreate', '/usr/sbin/sshd', '/usr/bin/ssh-keygen', '/usr/bin/unshare'].filter(
    (p) => !existsSync(p),
  );
  if (kerberos) missing.push(...missingKerberosFiles());
  if (missing.length === 0) return;
  const packages = kerberos ? [...PACKAGES, ...KERBEROS_PACKAGES] : PACKAGES;
  if (process.getuid?.() !== 0) {
    throw new FleetError(
      'failure',
      `lab: missing ${missing.join(', ')}; install as root: apt-get install -y ${packages.join(' ')}`,
    );
  }
  print(`lab: installing ${packages.join(' ')} (missing ${missing.join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '-qq', ...packages], { env, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    throw new FleetError(
      'failure',
      `lab: apt-get install ${packages.join(' ')} failed: ${(err as Error).message.split('\n')[0]}`,
    );
  }
}

async function assertAddressesFree(spec: LabSpec): Promise<void> {
  const ports = spec.hosts.map((h) => ({ address: h.address, port: 22 }));
  if (spec.kerberos) ports.push({ address: spec.kerberos.kdcAddress, port: KDC_PORT });
  for (const { address, port } of ports) {
    if (await waitForPort(address, port, 200)) {
      throw new UsageError(
        `${address}:${port} is already in use (another lab?); use 'ipa-fleet lab down --dir …' on it first`,
      );
    }
  }
}

async function writeControllerFiles(paths: LabPaths, spec: LabSpec): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ipa-fleet-lab-controller', '-f', paths.identity]);
  await cp(`${paths.identity}.pub`, paths.authorizedKeys);
  await writeFile(paths.dmPassword, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  await writeFile(paths.replPassword, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  await writeFile(paths.etcHosts, etcHosts(spec), { mode: 0o644 });
  // sudo refuses a sudoers file that is not root's and read-only.
  if (spec.sudo) await writeFile(paths.sudoers, sudoersFile(spec.sudo), { mode: 0o440 });
}

/**
 * The lab's sudo user on this machine (the hosts share its /etc/passwd): made when missing, with the
 * password of --sudo-password-file set through chpasswd's stdin. Without a password the account gets
 * '*' instead of useradd's locking '!': sshd (without PAM) refuses keys of locked accounts.
 */
async function ensureSudoUser(sudo: LabSudo): Promise<void> {
  if (!existsSync('/usr/bin/sudo')) {
    throw new FleetError(
      'failure',
      'lab: --sudo-user needs sudo on this machine; install as root: apt-get install -y sudo',
    );
  }
  const exists = await run('id', ['-u', sudo.user]).then(
    () => true,
    () => false,
  );
  if (!exists) await run('useradd', ['-m', '-s', '/bin/bash', sudo.user]);
  if (sudo.passwordFile !== undefined) {
    const password = (await readFile(sudo.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    await runWithInput('chpasswd', [], `${sudo.user}:${password}\n`);
  } else {
    const shadow = (await run('getent', ['shadow', sudo.user])).stdout.split(':')[1] ?? '';
    if (shadow.startsWith('!')) await run('usermod', ['-p', '*', sudo.user]);
  }
}

async function writeHostFiles(paths: LabPaths, host: LabHost, spec: LabSpec): Promise<void> {
  const dir = paths.hostDir(host.fqdn);
  const owned = ['etc-dirsrv', 'var-lib-dirsrv', 'var-log-dirsrv', 'run-dirsrv', 'lock-dirsrv'];
  for (const sub of [...owned, 'ssh']) await mkdir(join(dir, sub), { recursive: true });
  // The instance finds its schema and config templates in /etc/dirsrv.
  await cp('/etc/dirsrv/config', join(dir, 'etc-dirsrv', 'config'), { recursive: true });
  await cp('/etc/dirsrv/schema', join(dir, 'etc-dirsrv', 'schema'), { recursive: true });
  const { uid, gid } = await dirsrvIds();
  for (const sub of owned) await chownTree(join(dir, sub), uid, gid);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', host.fqdn, '-f', join(dir, 'ssh', 'host_ed25519')]);
  await writeFile(join(dir, 'sshd_config'), sshdConfig(paths, host, spec));
  await writeFile(join(dir, 'defaults.inf'), defaultsInf(await readFile('/usr/share/dirsrv/inf/defaults.inf', 'utf8')));
  await writeFile(join(dir, 'boot.sh'), bootScript(paths, host, spec), { mode: 0o700 });
  const pub = (await readFile(join(dir, 'ssh', 'host_ed25519.pub'), 'utf8')).trim().split(/\s+/);
  await writeFile(paths.knownHosts, `${host.fqdn},${host.address} ${pub[0]} ${pub[1]}\n`, { flag: 'a', mode: 0o600 });
}

async function writeInventory(paths: LabPaths, spec: LabSpec): Promise<void> {
  await writeFile(paths.inventory, inventoryText(spec, 'key'));
  if (spec.kerberos) await writeFile(paths.kerberosInventory, inventoryText(spec, 'kerberos'));
}

/**
 * The lab's inventory. `key`: ssh2 with the lab's key (what the lab itself and most tests use);
 * `kerberos`: the system ssh client and no key at all, so a login can only be GSSAPI's.
 */
function inventoryText(spec: LabSpec, login: 'key' | 'kerberos'): string {
  const ssh =
    login === 'key'
      ? `${sshUserLines(spec.sudo)}\n      identity_file: id_ed25519\n`
      : '      transport: openssh\n      user: root\n';
  const header =
    login === 'key'
      ? ''
      : `# Kerberos logins: run ipa-fleet with KRB5_CONFIG=krb5.conf (this folder) and a ticket for
# root@${spec.kerberos?.realm}: ipa-fleet lab kinit gets one and prints the two variables.
`;
  const hosts = spec.hosts
    .map((h) => `    ${labHostInventoryName(h)}:\n      address: ${h.address}\n      roles: [${h.roles.join(', ')}]`)
    .join('\n');
  const cas = spec.hosts
    .filter((h) => h.ca)
    .map((h) => `        ${labHostInventoryName(h)}: {}`)
    .join('\n');
  return `# ipa-fleet lab inventory, written by 'ipa-fleet lab up'. Paths are relative to this file.
${header}all:
  vars:
    deployment: ${spec.deployment}
    profile: 389ds
    ssh:
${ssh}      known_hosts: known_hosts
      connect_timeout: 5
    ldap:
      instance: ${spec.instance}
      port: 389
      bind_dn: cn=Directory Manager
      password: file:dm-password
    suffixes:
      domain: ${JSON.stringify(spec.suffixes.domain)}
      ca: ${JSON.stringify(spec.suffixes.ca)}
  hosts:
${hosts}
${cas ? `  children:\n    ca_servers:\n      hosts:\n${cas}\n` : ''}`;
}

/** The inventory's login: root, or the sudo user with `become: sudo` (and its password file). */
function sshUserLines(sudo: LabSpec['sudo']): string {
  if (!sudo) return '      user: root';
  const lines = [`      user: ${sudo.user}`, '      become: sudo'];
  if (sudo.passwordFile !== undefined)
    lines.push(`      become_password: ${JSON.stringify(`file:${sudo.passwordFile}`)}`);
  return lines.join('\n');
}

/** Starts the host's namespace with its sshd and waits until sshd answers. */
async function bootHost(paths: LabPaths, host: LabHost): Promise<void> {
  const dir = paths.hostDir(host.fqdn);
  const pid = spawnDetached(
    'setsid',
    ['unshare', '--mount', '--uts', '--fork', 'bash', join(dir, 'boot.sh')],
    join(dir, 'boot.log'),
  );
  await writeFile(paths.nsPidFile(host.fqdn), `${pid}\n`);
  if (!(await waitForPort(host.address, 22, 15_000))) {
    const log = await readFile(join(dir, 'boot.log'), 'utf8').catch(() => '');
    throw new FleetError(
      'failure',
      `lab: ${host.fqdn}: sshd did not come up on ${host.address}:22: ${log.trim().split('\n').pop() ?? ''}`,
    );
  }
}

async function createInstance(
  paths: LabPaths,
  transport: Transport,
  host: Host,
  lab: LabHost,
  instance: string,
  dmPassword: string,
): Promise<void> {
  const ssh = await transport.ssh(host);
  // The answer file holds the DM password: it goes over stdin into a 0600 temp file, never argv.
  await ssh.run('f=$(mktemp) && trap \'rm -f "$f"\' EXIT && cat > "$f" && dscreate from-file "$f"', {
    stdin: dsInf(lab, instance, dmPassword),
    display: 'dscreate from-file <answer file>',
    timeoutMs: 180_000,
  });
  if (lab.schemaDir) await copySchema(paths, lab, instance);
  const dse = `/etc/dirsrv/slapd-${instance}/dse.ldif`;
  const text = await ssh.run(`cat ${dse}`);
  await ssh.run(
    `cat > ${dse}.new && chown ${DIRSRV_USER}:${DIRSRV_USER} ${dse}.new ` +
      `&& chmod 600 ${dse}.new && mv ${dse}.new ${dse}`,
    {
      stdin: rewriteListen(text, lab.address),
    },
  );
  await ssh.run(`dsctl ${shellQuote(instance)} start`, { timeoutMs: 120_000 });
}

/**
 * Schema files (a drill: those of a FULL snapshot) into the instance's schema folder, which the host's
 * /etc/dirsrv bind mount shows the controller; the server reads them when it first starts.
 */
async function copySchema(paths: LabPaths, lab: LabHost, instance: string): Promise<void> {
  const target = join(paths.hostDir(lab.fqdn), 'etc-dirsrv', `slapd-${instance}`, 'schema');
  const { uid, gid } = await dirsrvIds();
  for (const name of await readdir(lab.schemaDir!)) {
    await cp(join(lab.schemaDir!, name), join(target, name));
    await chown(join(target, name), uid, gid);
  }
}

/** The domain suffix's LDIF; for the IPA-shaped data also how many IDs it used (DNA ranges start after). */
function domainData(spec: LabSpec): { ldif: string; idsUsed?: number } {
  return spec.data === 'ipa' ? ipaDomainLdif(spec.entries) : { ldif: domainLdif(spec.entries) };
}

async function restartInstance(transport: Transport, host: Host, instance: string): Promise<void> {
  await transport.forgetLdap(host);
  await (await transport.ssh(host)).run(`dsctl ${shellQuote(instance)} restart`, { timeoutMs: 120_000 });
}

/** FreeIPA's schema and plugin configuration on a new instance; the plugins start with the restart. */
async function makeIpaShaped(transport: Transport, host: Host, lab: LabHost, idsUsed: number): Promise<void> {
  const ssh = await transport.ssh(host);
  const file = `/etc/dirsrv/slapd-${LAB_INSTANCE}/schema/${IPA_SCHEMA_FILE}`;
  await ssh.run(`cat > ${file} && chown ${DIRSRV_USER}:${DIRSRV_USER} ${file} && chmod 640 ${file}`, {
    stdin: ipaSchemaLdif(),
  });
  await configureIpaPlugins(await transport.ldap(host), idRange(lab.index, idsUsed));
  await restartInstance(transport, host, LAB_INSTANCE);
}

async function configureReplication(
  paths: LabPaths,
  spec: LabSpec,
  domain: string,
  inventory: Inventory,
  transport: Transport,
  ctx: RunContext,
  print: Print,
): Promise<void> {
  const replPassword = (await readFile(paths.replPassword, 'utf8')).trim();
  ctx.redactor.add(replPassword);
  // A drill's sandbox stays empty: the restore under test imports the snapshot and initializes the replicas.
  if (spec.data !== 'none') await importData(transport, spec, inventory, domain);
  await inParallel(spec.hosts, 4, async (h) => {
    const ldap = await transport.ldap(hostOf(inventory, h));
    await ensureReplicationManager(ldap, replPassword);
    await enableSupplier(ldap, spec.suffixes.domain, backendOf(h, spec.suffixes.domain), h.rids.domain);
    if (spec.data === 'ipa') await shortenReplicationBackoff(ldap);
    if (h.ca && h.rids.ca !== undefined)
      await enableSupplier(ldap, spec.suffixes.ca, backendOf(h, spec.suffixes.ca), h.rids.ca);
  });
  const first = spec.hosts[0]!;
  const firstCa = spec.hosts.find((h) => h.ca);
  if (spec.init === 'ldif' && spec.data !== 'none') {
    // Before the agreements exist: no supplier meets a consumer that is offline for its import.
    await seedFromExport(transport, ctx, print, spec.hosts, first, spec.suffixes.domain);
    if (firstCa)
      await seedFromExport(
        transport,
        ctx,
        print,
        spec.hosts.filter((h) => h.ca),
        firstCa,
        spec.suffixes.ca,
      );
  }
  const agreementDns = await createAgreements(spec, inventory, transport, replPassword);
  if (spec.data === 'none' || spec.init === 'ldif') return;
  const init = { spec, inventory, transport, ctx, print, agreementDns };
  await initializeSuffix(init, spec.suffixes.domain, first.fqdn, spec.domainEdges);
  if (firstCa) await initializeSuffix(init, spec.suffixes.ca, firstCa.fqdn, spec.caEdges);
}

/** `--init ldif`: the root's export with its replication data imported on every other member, one at a time. */
async function seedFromExport(
  transport: Transport,
  ctx: RunContext,
  print: Print,
  members: LabHost[],
  root: LabHost,
  suffix: string,
): Promise<void> {
  const inventory = transport.inventory;
  const supplier = hostOf(inventory, root);
  const backend = backendOf(root, suffix);
  const path = initExportPath(supplier, 'lab', backend);
  const timeouts = { signal: ctx.signal, timeoutMs: INIT_TIMEOUT_MS };
  try {
    const t0 = Date.now();
    await exportForInit(transport, supplier, backend, path, timeouts);
    print(`lab: ${suffix}: exported from ${root.fqdn} (${formatSeconds(Date.now() - t0)})`);
    for (const m of members.filter((h) => h !== root)) {
      const t1 = Date.now();
      const consumer = hostOf(inventory, m);
      await importFromSupplier(transport, ctx, { supplier, supplierPath: path, consumer, backend, ...timeouts });
      print(`lab: ${suffix}: ${m.fqdn} imported ${root.fqdn}'s export (${formatSeconds(Date.now() - t1)})`);
    }
  } finally {
    await removeRemoteFile(transport, supplier, path, ctx);
  }
}

/** The backend a lab host serves `suffix` with. */
function backendOf(host: LabHost, suffix: string): string {
  const backend = host.backends.find((b) => b.suffix.toLowerCase() === suffix.toLowerCase());
  if (!backend) throw new FleetError('failure', `lab: ${host.fqdn} has no backend for ${suffix}`);
  return backend.name;
}

/** Two agreements per edge (one each way), named as FreeIPA names them; their DNs by `suffix|from|to`. */
async function createAgreements(
  spec: LabSpec,
  inventory: Inventory,
  transport: Transport,
  replPassword: string,
): Promise<Map<string, string>> {
  const agreementDns = new Map<string, string>();
  const create = async (suffix: string, prefix: string, from: string, to: string): Promise<void> => {
    const ldap = await transport.ldap(hostByFqdn(spec, inventory, from));
    const dn = await createAgreement(ldap, {
      name: `${prefix}${to}`,
      suffix,
      targetHost: to,
      targetPort: 389,
      credentials: replPassword,
      ...(spec.data === 'ipa' && suffix === spec.suffixes.domain ? { fractional: IPA_FRACTIONAL } : {}),
    });
    agreementDns.set(`${suffix}|${from}|${to}`, dn);
  };
  for (const [x, y] of spec.domainEdges) {
    await create(spec.suffixes.domain, 'meTo', x, y);
    await create(spec.suffixes.domain, 'meTo', y, x);
  }
  for (const [x, y] of spec.caEdges) {
    await create(spec.suffixes.ca, 'caTo', x, y);
    await create(spec.suffixes.ca, 'caTo', y, x);
  }
  return agreementDns;
}

interface InitContext {
  spec: LabSpec;
  inventory: Inventory;
  transport: Transport;
  ctx: RunContext;
  print: Print;
  agreementDns: Map<string, string>;
}

/** Total updates breadth-first from `root` over the suffix's edges. */
async function initializeSuffix(
  { spec, inventory, transport, ctx, print, agreementDns }: InitContext,
  suffix: string,
  root: string,
  edges: Array<[string, string]>,
): Promise<void> {
  const order = initOrder(root, edges);
  // One total update at a time: on a loaded 2-core machine, parallel inits from one supplier
  // made 389-DS 2.3.1 answer the refresh modify only after the LDAP timeout.
  for (const o of order) {
    const supplier = hostByFqdn(spec, inventory, o.supplier);
    const t0 = Date.now();
    await initializeConsumer(
      () => transport.ldap(supplier),
      agreementDns.get(`${suffix}|${o.supplier}|${o.consumer}`)!,
      {
        timeoutMs: INIT_TIMEOUT_MS,
        signal: ctx.signal,
      },
    );
    print(`lab: ${suffix}: ${o.consumer} initialized from ${o.supplier} (${formatSeconds(Date.now() - t0)})`);
  }
}

/** The data goes into the first host (and the first CA host); the others get it by total update. */
async function importData(transport: Transport, spec: LabSpec, inventory: Inventory, domain: string): Promise<void> {
  const first = spec.hosts[0]!;
  const firstCa = spec.hosts.find((h) => h.ca);
  await importLdif(transport, hostOf(inventory, first), 'userRoot', spec.suffixes.domain, domain);
  // An import runs no plugins: memberOf is computed once here, and total updates carry it to the others.
  if (spec.data === 'ipa') {
    await runTask(
      await transport.ldap(hostOf(inventory, first)),
      'memberof task',
      { basedn: spec.suffixes.domain, filter: '(objectClass=*)' },
      { timeoutMs: 10 * 60_000 },
    );
  }
  if (firstCa)
    await importLdif(
      transport,
      hostOf(inventory, firstCa),
      'ipaca',
      spec.suffixes.ca,
      caLdif(Math.max(5, Math.ceil(spec.entries / 10))),
    );
}

/** Uploads an LDIF into the instance's ldif/ folder and imports it with an online task. */
async function importLdif(
  transport: Transport,
  host: Host,
  backend: string,
  suffix: string,
  ldif: string,
): Promise<void> {
  const ssh = await transport.ssh(host);
  const label = backend.toLowerCase();
  const file = `/var/lib/dirsrv/slapd-${host.ldap.instance}/ldif/ipa-fleet-lab-${label}.ldif`;
  await ssh.run(`cat > ${shellQuote(file)} && chown ${DIRSRV_USER}:${DIRSRV_USER} ${shellQuote(file)}`, {
    stdin: ldif,
  });
  try {
    const ldap = await transport.ldap(host);
    const task = await runTask(ldap, 'import', { nsInstance: backend, nsFilename: file }, { timeoutMs: 10 * 60_000 });
    // An import skips an entry that violates the schema with a warning and still succeeds; its own
    // summary says so, with no search of the imported entries.
    const records = ldif.split('\n').filter((l) => l.startsWith('dn:')).length;
    const summary = importSummary(task.log);
    if (!summary || summary.skipped > 0 || summary.processed !== records)
      throw new FleetError(
        'failure',
        `lab: ${host.name}: the import of the ${records} entries of ${suffix} ` +
          (summary ? `processed ${summary.processed}, skipped ${summary.skipped}` : 'reported no summary') +
          ' (see its errors log)',
      );
  } finally {
    await ssh.run(`rm -f ${shellQuote(file)}`);
  }
}

function hostOf(inventory: Inventory, lab: LabHost): Host {
  const host = inventory.hosts.find((h) => h.name === labHostInventoryName(lab));
  if (!host) throw new FleetError('failure', `lab inventory has no host ${labHostInventoryName(lab)}`);
  return host;
}

/** The inventory host of the lab host with this FQDN (edges name hosts by FQDN). */
function hostByFqdn(spec: LabSpec, inventory: Inventory, fqdn: string): Host {
  const lab = spec.hosts.find((h) => h.fqdn === fqdn);
  if (!lab) throw new FleetError('failure', `lab spec has no host ${fqdn}`);
  return hostOf(inventory, lab);
}

async function dirsrvIds(): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith(`${DIRSRV_USER}:`));
  if (!line) throw new FleetError('failure', `lab: user ${DIRSRV_USER} does not exist (is 389-ds-base installed?)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, uid, gid);
    else await chown(child, uid, gid);
  }
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        try {
          await fn(item);
        } catch (err) {
          errors.push(err);
        }
      }
    }),
  );
  if (errors.length) throw errors[0];
}

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { describeSecretSource, loadInventory, selectHosts, type Host, type Inventory } from '../inventory/index.js';
import { importAnsible } from '../operations/import-ansible.js';
import type { GlobalOptions, Wrap } from './command-env.js';
import { table } from './output.js';

/** Loads the -i inventory and applies --limit; shared by every command that targets hosts. */
export async function targetHosts(globals: GlobalOptions): Promise<{ inventory: Inventory; hosts: Host[] }> {
  if (!globals.inventory)
    throw new UsageError('no inventory: pass -i/--inventory FILE (a lab writes one: ipa-fleet lab up)');
  const inventory = await loadInventory(globals.inventory);
  return { inventory, hosts: selectHosts(inventory, globals.limit) };
}

/**
 * Loads the -i inventory once, from its absolute path: a plan records the file, and
 * `run --resume` without -i reads it from any directory.
 */
export async function requireInventory(globals: GlobalOptions): Promise<Inventory> {
  if (!globals.inventory) throw new UsageError('no inventory: pass -i/--inventory FILE');
  return loadInventory(resolve(globals.inventory));
}

export function registerInventoryCommands(program: Command, wrap: Wrap): void {
  const inv = program.command('inventory').description('inspect an inventory');
  inv
    .command('check')
    .description('validate the inventory (-i) and print the resolved hosts (after --limit)')
    .addHelpText(
      'after',
      '\nWarns about missing key, known_hosts and password files (the exit code stays 0).\nExit code: 0 valid; 2 ' +
        'the inventory is invalid (the message names file, line and key) or --limit matches nothing.',
    )
    .action(
      wrap(async ({ globals, out }) => {
        const { inventory, hosts } = await targetHosts(globals);
        const warnings = fileWarnings(hosts);
        if (globals.json) {
          out.json({
            file: inventory.file,
            deployment: inventory.deployment,
            hosts: hosts.map(describeHost),
            warnings,
          });
        } else {
          out.line(
            `${inventory.file}: deployment ${inventory.deployment}, ${hosts.length} of ${inventory.hosts.length} ` +
              `host(s)`,
          );
          out.line(
            table([
              ['HOST', 'ADDRESS', 'SSH', 'LDAP', 'ROLES', 'SUFFIXES', 'PROFILE', 'GROUPS'],
              ...hosts.map((h) => [
                h.name,
                h.address,
                `${h.ssh.user}@${h.address}:${h.ssh.port}${h.ssh.proxyJump ? ` via ${h.ssh.proxyJump}` : ''}`,
                `${h.ldap.instance}:${h.ldap.port}${h.ldap.direct ? ' ldaps' : ''}`,
                h.roles.join(',') || '-',
                [h.suffixes.domain, ...(h.roles.includes('ca') ? [caLabel(h)] : [])].join(' '),
                h.profile,
                h.groups.filter((g) => g !== 'all').join(',') || '-',
              ]),
            ]),
          );
          for (const w of warnings) out.warn(w);
        }
      }),
    );
  registerImportAnsible(inv, wrap);
}

function registerImportAnsible(inv: Command, wrap: Wrap): void {
  inv
    .command('import-ansible')
    .description('convert an ansible-freeipa inventory (INI or YAML) into an ipa-fleet inventory')
    .argument('<hosts>', 'the Ansible inventory file (groups ipaserver, ipareplicas and their vars)')
    .option('--out <file>', 'write the inventory to FILE (a new file) instead of stdout')
    .option('--force', 'with --out: replace FILE if it exists', false)
    .addHelpText(
      'after',
      '\nNo password is copied: each one found (ipadm_password, become passwords, vault values) is\n' +
        'replaced by `prompt`, with a warning naming the variable and where it was set.\n' +
        'Exit code: 0 converted (warnings on stderr); 2 the file is missing, unreadable, not an inventory,\n' +
        'has no ipaserver group, or FILE exists without --force; 1 FILE could not be written.',
    )
    .action(
      wrap(async ({ globals, out }, hosts: string, opts: { out?: string; force: boolean }) => {
        const result = await importAnsible({ source: hosts, out: opts.out, force: opts.force });
        if (globals.json) {
          const { yaml, ...rest } = result;
          out.json({ ...rest, inventory: yaml });
          return;
        }
        for (const w of result.warnings) out.warn(w);
        if (result.written === undefined) out.line(result.yaml.replace(/\n$/, ''));
        else {
          out.line(
            `${result.written}: deployment ${result.deployment}, ${result.hosts.length} host(s); ` +
              `next: ipa-fleet inventory check -i ${result.written}`,
          );
        }
      }),
    );
}

function caLabel(h: Host): string {
  const { ca } = h.suffixes;
  return ca.instance || ca.port
    ? `${ca.suffix}(${ca.instance ?? h.ldap.instance}:${ca.port ?? h.ldap.port})`
    : ca.suffix;
}

function describeHost(h: Host): Record<string, unknown> {
  return {
    name: h.name,
    address: h.address,
    groups: h.groups,
    roles: h.roles,
    profile: h.profile,
    ssh: {
      transport: h.ssh.transport,
      user: h.ssh.user,
      become: h.ssh.become
        ? {
            method: h.ssh.become.method,
            user: h.ssh.become.user,
            password: h.ssh.become.password ? describeSecretSource(h.ssh.become.password) : null,
          }
        : null,
      port: h.ssh.port,
      identityFile: h.ssh.identityFile ?? null,
      identityPassphrase: h.ssh.identityPassphrase ? describeSecretSource(h.ssh.identityPassphrase) : null,
      knownHosts: h.ssh.knownHostsFile,
      hostKeyPolicy: h.ssh.hostKeyPolicy,
      proxyJump: h.ssh.proxyJump ?? null,
      connectTimeoutMs: h.ssh.connectTimeoutMs,
      connectRetries: h.ssh.connectRetries,
    },
    ldap: {
      instance: h.ldap.instance,
      port: h.ldap.port,
      bindDn: h.ldap.bindDn,
      password: describeSecretSource(h.ldap.password),
      direct: h.ldap.direct ?? null,
      timeoutMs: h.ldap.timeoutMs,
    },
    suffixes: h.suffixes,
  };
}

/** Missing files, one line per file with the hosts that use it. */
function fileWarnings(hosts: Host[]): string[] {
  const byProblem = new Map<string, string[]>();
  const note = (problem: string, host: string): void => {
    byProblem.set(problem, [...(byProblem.get(problem) ?? []), host]);
  };
  for (const h of hosts) {
    if (h.ssh.identityFile && !existsSync(h.ssh.identityFile))
      note(`ssh.identity_file ${h.ssh.identityFile} does not exist`, h.name);
    if (!existsSync(h.ssh.knownHostsFile)) {
      note(
        `ssh.known_hosts ${h.ssh.knownHostsFile} does not exist` +
          (h.ssh.hostKeyPolicy === 'strict' ? ' (strict policy: hosts will be refused)' : ''),
        h.name,
      );
    }
    if (h.ldap.password.kind === 'file' && !existsSync(h.ldap.password.path))
      note(`ldap.password file ${h.ldap.password.path} does not exist`, h.name);
  }
  return [...byProblem].map(
    ([problem, names]) => `${problem} (${names.length === hosts.length ? 'all hosts' : names.join(', ')})`,
  );
}

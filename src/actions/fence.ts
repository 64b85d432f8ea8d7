// fence: every agreement of every restored suffix off, on every online host (verified by reading
// back; the prior values are journalled). Offline hosts named by --allow-offline are quarantined
// on the controller first, before any host is changed.
import { FleetError } from '../errors.js';
import type { JsonValue } from '../json.js';
import { setAgreementsEnabled } from '../directory/fence.js';
import { quarantineHosts } from '../restore/quarantine.js';
import { restoreLayout } from '../restore/layout.js';
import { defineAction, paramSchema, type ParamsOf, type TaskDraft } from '../playbook/action.js';

// Two kinds of task: a quarantine (reason given) on the controller, or a fence of the host's suffixes.
const fenceTaskParams = paramSchema({
  master: { type: 'string', description: 'the host being restored (quarantine)' },
  backup: { type: 'string', description: 'snapshot id (quarantine)' },
  suffixes: { type: 'list', default: [], description: 'suffix kinds (quarantine) or suffix DNs to fence' },
  reason: { type: 'string', description: 'why the host is quarantined; absent: fence it' },
});

export const fenceAction = defineAction({
  name: 'fence',
  description: 'disable every replication agreement of the restored suffixes on each host (quarantine offline ones)',
  destructive: true,
  needsFacts: true,
  params: {
    master: { type: 'string', required: true, description: 'the host being restored (decides the suffixes)' },
    backup: { type: 'string', default: '', description: 'snapshot id, recorded with quarantined hosts' },
    only: { type: 'list', default: [], description: 'fence only these hosts (rejoin)' },
  },
  taskParams: fenceTaskParams,
  plan({ inventory, hosts, withFor, facts, offline }) {
    const first = withFor(hosts[0]!);
    const layout = restoreLayout(inventory, facts, offline, first.master);
    const only = first.only;
    const selected = hosts.filter((h) => only.length === 0 || only.includes(h.name));
    const quarantine: TaskDraft<ParamsOf<typeof fenceTaskParams>>[] = layout.offline
      .filter((n) => selected.some((h) => h.name === n))
      .map((name) => ({
        key: `quarantine:${name}`,
        host: name,
        title: `quarantine ${name} (offline: ${offline.get(name) ?? 'unreachable'})`,
        params: {
          master: layout.master,
          backup: first.backup ?? '',
          suffixes: layout.suffixes.map((s) => s.kind),
          reason: offline.get(name) ?? 'offline during the restore',
        },
      }));
    const fences: TaskDraft<ParamsOf<typeof fenceTaskParams>>[] = selected
      .filter((h) => !layout.offline.includes(h.name))
      .map((h) => {
        const mine = layout.suffixes.filter((s) => s.hosts.includes(h.name));
        const agreements = mine.flatMap(
          (s) =>
            (s.kind === 'domain' ? facts.get(h.name)?.suffixes.domain : facts.get(h.name)?.suffixes.ca)?.agreements.map(
              (a) => a.name,
            ) ?? [],
        );
        return {
          key: h.name,
          host: h.name,
          title: `fence ${h.name}: off ${agreements.length ? agreements.join(', ') : '(no agreement)'}`,
          params: { suffixes: mine.map((s) => s.suffix) },
          after: quarantine.map((q) => q.key),
        };
      });
    return [...quarantine, ...fences];
  },
  async run(ctx, params) {
    if (params.reason !== undefined) {
      if (!ctx.stateDir) throw new FleetError('failure', 'quarantine needs the state folder');
      await quarantineHosts(ctx.stateDir, ctx.inventory.deployment, [
        {
          host: ctx.host.name,
          since: new Date().toISOString(),
          master: params.master ?? '',
          snapshot: params.backup ?? '',
          suffixes: params.suffixes,
          reason: params.reason,
        },
      ]);
      return {
        status: 'changed',
        message: `${ctx.host.name} quarantined: run 'ipa-fleet rejoin ${ctx.host.name}' when it is back`,
        changes: [{ quarantined: ctx.host.name }],
      };
    }
    const ldap = await ctx.transport.ldap(ctx.host);
    const suffixes = params.suffixes;
    const toggles = [];
    for (const suffix of suffixes) toggles.push(...(await setAgreementsEnabled(ldap, suffix, false)));
    const changed = toggles.filter((t) => t.before !== t.after);
    return {
      status: changed.length > 0 ? 'changed' : 'ok',
      message:
        `${toggles.length} agreement(s) off` +
        (changed.length < toggles.length ? ` (${toggles.length - changed.length} already were)` : ''),
      changes: toggles.map((t) => ({
        agreement: t.dn,
        suffix: t.suffix,
        target: t.target,
        before: t.before,
        after: t.after,
      })) as JsonValue[],
    };
  },
});

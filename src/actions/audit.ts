import { FleetError } from '../errors.js';
import type { JsonValue } from '../json.js';
import { readQuarantine, quarantineCheck } from '../restore/quarantine.js';
import { auditDeployment, auditJson } from '../topology/audit.js';
import { writeGraph } from '../topology/draw.js';
import type { SuffixKind } from '../topology/findings.js';
import { defineAction } from '../playbook/action.js';

/**
 * The whole-deployment audit as one task. It is planned on the first selected host (the task
 * needs a host in the plan); it reads every host of the step.
 */
export const auditAction = defineAction({
  name: 'audit',
  description: "audit the replication topology of the step's hosts (read-only); fails on error findings",
  destructive: false,
  needsFacts: false,
  params: {
    suffix: { type: 'string', default: 'all', description: 'domain, ca or all' },
    graph: { type: 'string', description: 'draw the topology to this .svg, .dot or .mmd file on the controller' },
    fail_on: {
      type: 'string',
      default: 'error',
      description: 'error: fail on error findings; warning: also on warnings; never',
    },
  },
  taskParams: {
    suffix: { type: 'string', default: 'all', description: 'domain, ca or all' },
    graph: { type: 'string', description: 'draw the topology to this .svg, .dot or .mmd file on the controller' },
    fail_on: { type: 'string', default: 'error', description: 'error, warning or never' },
    hosts: { type: 'list', description: "the step's hosts (default: every inventory host)" },
  },
  plan({ hosts, withFor }) {
    const first = hosts[0]!;
    return [
      {
        key: 'deployment',
        host: first.name,
        title: `audit ${hosts.length} host(s)`,
        params: { ...withFor(first), hosts: hosts.map((h) => h.name) },
      },
    ];
  },
  async run(ctx, params) {
    const suffixes: SuffixKind[] =
      params.suffix === 'domain' ? ['domain'] : params.suffix === 'ca' ? ['ca'] : ['domain', 'ca'];
    const names = params.hosts ?? ctx.inventory.hosts.map((h) => h.name);
    const hosts = ctx.inventory.hosts.filter((h) => names.includes(h.name));
    const quarantined = ctx.stateDir ? await readQuarantine(ctx.stateDir, ctx.inventory.deployment) : {};
    const report = await auditDeployment(ctx.transport, ctx.inventory, hosts, {
      suffixes,
      extraChecks: [quarantineCheck(quarantined)],
    });
    if (typeof params.graph === 'string')
      await writeGraph(params.graph, report.topology, { suffixes, findings: report.findings });
    const errors = report.findings.filter((f) => f.severity === 'error');
    const warnings = report.findings.filter((f) => f.severity === 'warning');
    const failing = params.fail_on === 'never' ? [] : params.fail_on === 'warning' ? [...errors, ...warnings] : errors;
    if (failing.length > 0) {
      throw new FleetError(
        'failure',
        `audit: ${errors.length} error(s), ${warnings.length} warning(s): ${failing
          .slice(0, 3)
          .map((f) => `${f.id} (${f.hosts.join(',')})`)
          .join('; ')}`,
      );
    }
    return {
      status: 'ok',
      message:
        report.findings.length === 0
          ? 'clean'
          : `${warnings.length} warning(s), ${report.findings.length - warnings.length} info`,
      data: auditJson(report) as JsonValue,
    };
  },
});

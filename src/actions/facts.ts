import { gatherFacts } from '../topology/facts.js';
import type { JsonValue } from '../json.js';
import { defineAction } from '../playbook/action.js';

/** Read-only: gathers the host's facts (hostname, OS, 389-DS, suffixes, replicas, agreements, RUV, space). */
export const factsAction = defineAction({
  name: 'facts',
  description: 'gather facts from the hosts (read-only)',
  destructive: false,
  needsFacts: false,
  params: {},
  async run(ctx) {
    const facts = await gatherFacts(ctx.transport, ctx.host);
    const rids = [facts.suffixes.domain, facts.suffixes.ca]
      .filter((s) => s?.replica)
      .map((s) => `${s!.suffix} rid ${s!.replica!.rid}`);
    return {
      status: 'ok',
      message: `${facts.fqdn}, ${facts.dsVersion}${rids.length ? `, ${rids.join(', ')}` : ''}`,
      data: facts as unknown as JsonValue,
    };
  },
});

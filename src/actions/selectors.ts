import { UsageError } from '../errors.js';
import type { SelectorDefinition } from '../playbook/action.js';

/** Every inventory host but the named one (e.g. the peers to fence around a restored master). */
export const peersOf: SelectorDefinition = {
  name: 'peers_of',
  description: 'every inventory host except the given one',
  needsFacts: false,
  select(inventory, argument) {
    if (!inventory.hosts.some((h) => h.name === argument)) {
      throw new UsageError(`peers_of: '${argument}' is not a host of the inventory`);
    }
    return inventory.hosts.filter((h) => h.name !== argument);
  },
};

/** Hosts that carry a role (ca, kra, dns, …). */
export const withRole: SelectorDefinition = {
  name: 'role',
  description: 'hosts with the given role (ca, kra, dns, adtrust)',
  needsFacts: false,
  select(inventory, argument) {
    return inventory.hosts.filter((h) => h.roles.includes(argument));
  },
};

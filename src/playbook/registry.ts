import type { ActionDefinition, SelectorDefinition } from './action.js';

/** The actions and selectors playbooks may name. Built per run: no module-level registry. */
export class ActionRegistry {
  private readonly actions = new Map<string, ActionDefinition>();
  private readonly selectors = new Map<string, SelectorDefinition>();

  constructor(actions: ActionDefinition[], selectors: SelectorDefinition[]) {
    for (const a of actions) this.actions.set(a.name, a);
    for (const s of selectors) this.selectors.set(s.name, s);
  }

  action(name: string): ActionDefinition | undefined {
    return this.actions.get(name);
  }
  selector(name: string): SelectorDefinition | undefined {
    return this.selectors.get(name);
  }
  actionNames(): string[] {
    return [...this.actions.keys()].sort();
  }
  selectorNames(): string[] {
    return [...this.selectors.keys()].sort();
  }
}

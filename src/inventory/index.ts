// The inventory stage: YAML file → validated, resolved model; host selection; secret sources.

export * from './model.js';
export { loadInventory, parseInventory, type InventoryEnvironment } from './load.js';
export { selectHosts } from './limit.js';
export {
  readSecret,
  parseSecretSource,
  describeSecretSource,
  LITERAL_SECRET_REFUSED,
  type ReadSecretOptions,
} from './secrets.js';
export { parseJumpTarget, type JumpTarget } from './names.js';
export { ROLES } from './schema.js';

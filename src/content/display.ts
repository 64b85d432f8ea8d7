// How a value is shown to a person or in JSON: text as is, bytes that are not text as base64,
// secrets never (their attribute is reported as changed or unchanged only).

import { isSecretAttribute } from './data.js';

export type ShownValue = string | { base64: string };

/** The values as shown, or undefined when the attribute is a secret. */
export function shownValues(attr: string, values: Buffer[]): ShownValue[] | undefined {
  if (isSecretAttribute(attr)) return undefined;
  return values.map(shownValue);
}

function shownValue(value: Buffer): ShownValue {
  const text = value.toString('utf8');
  const printable = !/[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/.test(text);
  return printable ? text : { base64: value.toString('base64') };
}

/** One value as a line of text. */
export function valueText(value: ShownValue): string {
  return typeof value === 'string' ? value : `(binary) ${value.base64}`;
}

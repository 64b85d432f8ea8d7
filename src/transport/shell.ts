/**
 * POSIX shell quoting for every value that reaches a remote shell (host names, paths, DNs).
 * Single quotes make everything literal; an embedded single quote becomes '\''.
 */
export function shellQuote(value: string): string {
  if (value === '') return "''";
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Builds a command line from a program and its arguments, quoting each argument. */
export function shellCommand(program: string, ...args: string[]): string {
  return [program, ...args].map(shellQuote).join(' ');
}

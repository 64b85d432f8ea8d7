// JSON values as the code passes them around: plans, journal records, action parameters and findings.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

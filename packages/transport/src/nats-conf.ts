/**
 * nats-server configuration as a plain object, written out in the server's own config syntax. Values are
 * quoted JSON-style, so no token is mistaken for a variable (`$X`) or a duration.
 */
export type NatsConfValue = string | number | boolean | NatsConfValue[] | NatsConf;
export interface NatsConf {
  [key: string]: NatsConfValue | undefined;
}

const bareKey = /^[A-Za-z_][\w-]*$/;

/** Serialises `conf` to nats-server config text; `undefined` values are left out. */
export function formatNatsConf(conf: NatsConf, indent = ''): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(conf)) {
    if (value === undefined) continue;
    const k = bareKey.test(key) ? key : JSON.stringify(key);
    lines.push(`${indent}${k}: ${formatValue(value, indent)}`);
  }
  return lines.join('\n');
}

function formatValue(value: NatsConfValue, indent: string): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => `${inner}${formatValue(v, inner)}`).join('\n')}\n${indent}]`;
  }
  const body = formatNatsConf(value, inner);
  return body ? `{\n${body}\n${indent}}` : '{}';
}

/** `base` with `extra`'s keys laid over it; nested objects merge, everything else is replaced. */
export function mergeNatsConf(base: NatsConf, extra: NatsConf | undefined): NatsConf {
  if (!extra) return base;
  const out: NatsConf = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const prev = out[key];
    out[key] = isConf(prev) && isConf(value) ? mergeNatsConf(prev, value) : value;
  }
  return out;
}

function isConf(v: unknown): v is NatsConf {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

// One Prometheus registry per process; each role defines its metrics here through `metric()` so a
// name is created once however often a module is loaded. Labels never carry personal data (no user
// names, pseudonyms, client addresses or host names): only actions, categories, roles, outcomes.

export const registry = new Registry();

type Kind = 'counter' | 'gauge' | 'histogram';
const made = new Map<string, Counter | Gauge | Histogram>();

export function counter(name: string, help: string, labelNames: string[] = []): Counter {
  return get('counter', name, () => new Counter({ name, help, labelNames, registers: [registry] })) as Counter;
}

export function gauge(name: string, help: string, labelNames: string[] = []): Gauge {
  return get('gauge', name, () => new Gauge({ name, help, labelNames, registers: [registry] })) as Gauge;
}

export function histogram(name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram {
  return get('histogram', name, () => new Histogram({ name, help, buckets, labelNames, registers: [registry] })) as Histogram;
}

function get(kind: Kind, name: string, make: () => Counter | Gauge | Histogram) {
  const existing = made.get(name);
  if (existing) return existing;
  const m = make();
  made.set(name, m);
  void kind;
  return m;
}

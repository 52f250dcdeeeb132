// Defaults that code outside the schema also falls back to (tests and tools that build parts
// without a config). Apart from schema.ts so that importing them does not load the validator into
// every proxy thread.

export const DEFAULT_REDIS_MAX_MEMORY_MB = 256;
export const DEFAULT_AUTH_CACHE_SECONDS = 300;

// Types for build-state.mjs (plain JavaScript so that it runs before anything is installed).
export declare const root: string;
export declare const distDir: string;
export declare function haveSources(): boolean;
export declare function sourceFingerprint(): string;
export declare function buildState(): 'missing' | 'stale' | 'current';
export declare function build(opts?: { quiet?: boolean }): string | null;
export declare function ensureBuilt(opts?: { quiet?: boolean; log?: (message: string) => void }): string | null;

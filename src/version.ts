/** The library's version, reported by workers to `celeriac status`. Kept equal to package.json's. */
export const VERSION = '0.1.0';

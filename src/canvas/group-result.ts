/**
 * `GroupResult`, a group's handle, lives beside `AsyncResult` (app/async-result.ts): each
 * makes the other from Celery's result tuples. Re-exported here for the canvas.
 */
export { GroupResult } from '../app/async-result.js';

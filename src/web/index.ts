/**
 * `celeriac/web`: the framework-agnostic task handlers on web-standard Request/Response.
 * Only re-exports live here; framework adapters have their own subpaths
 * (`celeriac/express`) so no framework is ever loaded by importing this one.
 */
export {
  createTaskHandler,
  sendAndRespond,
  type TaskHandler,
  type TaskHandlerOptions,
  type TaskReader,
} from './handler.js';
export { toTaskView, isFinal, type RetryView, type TaskView } from './task-view.js';
export { formatEvent } from './sse.js';

/**
 * `-A <module>[:<export>]` for the commands: the loader lives in app/ (the worker's pool
 * children load the same module the same way).
 */
export { AppNotFoundError, CommonJsAppError, loadApp } from '../app/load-app.js';

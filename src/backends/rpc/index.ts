/**
 * The rpc:// result backend's public surface (results as messages to the caller's reply
 * queue, as Celery's rpc backend), loaded only when an `rpc://` URL is used. Re-exports only.
 */
export { RpcBackend, createRpcBackend, newOid } from './rpc-backend.js';
export type { RpcBackendOptions, RpcStoreOptions } from './rpc-backend.js';
export { PIDBOX_EXCHANGE } from './revocations.js';

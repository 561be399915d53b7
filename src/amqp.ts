/**
 * The `celeriac/amqp` entry: RabbitMQ broker and rpc:// result backend, for users who build
 * them by hand (a shared connection name, TLS options, quorum queues). Re-exports only;
 * importing it loads amqplib.
 */
export * from './brokers/amqp/index.js';
export * from './backends/rpc/index.js';
// AmqpBroker.options: the options as resolved from the URL and the constructor.
export type { ResolvedAmqpOptions } from './brokers/amqp/options.js';
// AmqpBroker.replyRoutes: where an rpc:// backend of the same app sends each task's results.
export type { ReplyRoutes, ReplyRoute } from './connections/amqp/reply-routes.js';

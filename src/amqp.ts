/**
 * The `celeriac/amqp` entry: RabbitMQ broker and rpc:// result backend, for users who build
 * them by hand (a shared connection name, TLS options, quorum queues). Re-exports only;
 * importing it loads amqplib.
 */
export * from './brokers/amqp/index.js';
export * from './backends/rpc/index.js';

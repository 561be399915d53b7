/**
 * The AMQP (RabbitMQ) broker's public surface, loaded only when an `amqp://` or `amqps://`
 * URL is used, so amqplib stays an optional peer dependency. Re-exports only.
 */
export { AmqpBroker, createAmqpBroker } from './amqp-broker.js';
export type { AmqpBrokerOptions } from './options.js';
export { InvalidAmqpOptionsError } from './options.js';
export { PublishRejectedError } from '../../connections/amqp/publisher.js';
export { QueueDeclarationError, DEAD_LETTER_EXCHANGE } from './topology.js';
export { AlreadySettledError } from './delivery.js';
export { MAX_DELAY_SECONDS } from './delayed-delivery.js';

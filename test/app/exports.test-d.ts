// Type tests: every type and error a user meets in a public signature is importable from the
// package's entries (here their sources), and is the one those signatures use.
import { describe, expectTypeOf, it } from 'vitest';
import {
  AsyncResult,
  Celeriac,
  MalformedMessageError,
  MalformedResultMetaError,
  RemoteTaskError,
  UnsupportedContentTypeError,
  type Broker,
  type BrokerFactoryOptions,
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  type DeliveryHandler,
  type DeliveryInfo,
  type LogFields,
  type Logger,
  type MessageProperties,
  type ResolvedConfig,
  type ResultBackend,
  type StoreOptions,
  type TransportMessage,
  type Unsubscribe,
  type WorkerInfo,
  type WorkerRegistry,
} from '../../src/index.js';
import {
  SqliteBeatStore,
  SqliteWorkerRegistry,
  type SqliteBackend,
  type SqliteBrokerOptions,
} from '../../src/sqlite.js';
import type { ResolvedAmqpOptions, AmqpBroker } from '../../src/amqp.js';

describe('public exports', () => {
  it('a failed task throws RemoteTaskError, an Error with the remote exception', () => {
    expectTypeOf<RemoteTaskError>().toExtend<Error>();
    expectTypeOf<RemoteTaskError['excType']>().toEqualTypeOf<string>();
    expectTypeOf<RemoteTaskError['traceback']>().toEqualTypeOf<string | null>();
    expectTypeOf<MalformedMessageError>().toExtend<Error>();
    expectTypeOf<MalformedResultMetaError>().toExtend<Error>();
    expectTypeOf<UnsupportedContentTypeError>().toExtend<Error>();
  });

  it('the broker contract is implementable with exported types only', () => {
    expectTypeOf<Broker['publish']>().parameter(0).toEqualTypeOf<TransportMessage>();
    expectTypeOf<Broker['consume']>().parameter(0).toEqualTypeOf<ConsumeOptions>();
    expectTypeOf<Broker['consume']>().returns.resolves.toEqualTypeOf<Consumer>();
    expectTypeOf<ConsumeOptions['onDelivery']>().toEqualTypeOf<DeliveryHandler>();
    expectTypeOf<Delivery['message']>().toEqualTypeOf<TransportMessage>();
    expectTypeOf<TransportMessage['properties']>().toEqualTypeOf<MessageProperties>();
    expectTypeOf<MessageProperties['delivery_info']>().toEqualTypeOf<DeliveryInfo | undefined>();
    expectTypeOf<SqliteBrokerOptions>().toExtend<BrokerFactoryOptions>();
  });

  it('the backend contract is implementable with exported types only', () => {
    expectTypeOf<ResultBackend['store']>().parameter(1).toEqualTypeOf<StoreOptions | undefined>();
    expectTypeOf<ReturnType<ResultBackend['subscribe']>>().resolves.toEqualTypeOf<Unsubscribe>();
    expectTypeOf<
      ReturnType<NonNullable<ResultBackend['workerRegistry']>>
    >().toExtend<WorkerRegistry>();
    expectTypeOf<Awaited<ReturnType<WorkerRegistry['online']>>>().toEqualTypeOf<WorkerInfo[]>();
    expectTypeOf<ReturnType<SqliteBackend['beatStore']>>().toEqualTypeOf<SqliteBeatStore>();
    expectTypeOf<
      ReturnType<SqliteBackend['workerRegistry']>
    >().toEqualTypeOf<SqliteWorkerRegistry>();
  });

  it('the app, its results, its logger and the AMQP options name exported types', () => {
    expectTypeOf<Celeriac['config']>().toEqualTypeOf<ResolvedConfig>();
    expectTypeOf<AsyncResult<number>['id']>().toEqualTypeOf<string>();
    expectTypeOf<Logger['info']>().toBeCallableWith({ task: 'x' } satisfies LogFields, 'message');
    expectTypeOf<AmqpBroker['options']>().toEqualTypeOf<ResolvedAmqpOptions>();
  });
});

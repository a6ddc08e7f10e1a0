// A gRPC service's constructor (its `.service` is the server-side
// definition), built from its .proto file once per process and service.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const loaded = new Map<string, grpc.ServiceClientConstructor>();

/** `service` is the fully qualified name, e.g. 'rdmq.broker.v1.Users'; `options` add to rdmq's loader options. */
export function protoService(protoFile: string, service: string, options: protoLoader.Options = {}): grpc.ServiceClientConstructor {
  const key = `${protoFile}#${service}`;
  let constructor = loaded.get(key);
  if (!constructor) {
    const definition = protoLoader.loadSync(protoFile, { keepCase: false, longs: String, enums: String, defaults: true, ...options });
    let node: unknown = grpc.loadPackageDefinition(definition);
    for (const part of service.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
    if (typeof node !== 'function') throw new Error(`${protoFile} defines no service ${service}`);
    constructor = node as grpc.ServiceClientConstructor;
    loaded.set(key, constructor);
  }
  return constructor;
}

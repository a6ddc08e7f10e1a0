// What a standby broker of an HA group serves on its control address: every
// call of the broker's and the gateway hub's services is refused with a
// retriable NOT_LEADER (gRPC UNAVAILABLE) naming the leader's control address
// when it is known, so clients and gateways given several addresses go there.
import * as grpc from '@grpc/grpc-js';
import { brokerService, notLeaderError, usersService } from '../broker';
import { serverCredentials } from '../control-plane';
import { hubService } from '../gateway';

export interface StandbyControlServer {
  port: number;
  close(): Promise<void>;
}

export async function startStandbyControlServer(address: { host: string; port: number }, leader: () => string | undefined): Promise<StandbyControlServer> {
  const server = new grpc.Server();
  const refusal = (): grpc.ServiceError => notLeaderError(leader());
  for (const service of [brokerService().service, hubService().service, usersService().service]) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(service)) {
      implementation[name] = method.responseStream
        ? (call: grpc.ServerWritableStream<unknown, unknown>) => void call.emit('error', refusal())
        : (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(refusal());
    }
    server.addService(service, implementation);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${address.host}:${address.port}`, serverCredentials(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

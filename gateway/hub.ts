// The broker's side and the gateway's side of gateway.proto.
//
// GatewayHub (in the broker's process) keeps the registry of live gateways —
// a gateway is in it exactly while its Join call is open — and answers
// forwarded Kafka requests with the broker's own gateway, so that groups,
// offsets, producer ids and topic admin have one home however many gateways
// clients talk to. HubClient is what a gateway of its own uses to join and
// forward.
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { channelCredentials, isClusterMember, memberClientOptions, protoService } from '../control-plane';
import { GatewayContext } from './context';
import { joinAddressRefusal } from './join-address';
import { answerFrame } from './dispatch';
import { GatewayNode, GatewayRegistry, NodeIdTakenError } from './leadership';
import { ProtocolError } from './protocol';
import { KafkaSession } from './security/session';

export const GATEWAY_PROTO_PATH = path.join(__dirname, '..', '..', 'gateway', 'gateway.proto');

export function hubService(): grpc.ServiceClientConstructor {
  return protoService(GATEWAY_PROTO_PATH, 'rdmq.gateway.v1.GatewayHub');
}

interface NodeMessage {
  nodeId: number;
  host: string;
  port: number;
  rack: string;
  listeners?: { name: string; host: string; port: number }[];
}

const toMessage = (n: GatewayNode): NodeMessage => ({ nodeId: n.nodeId, host: n.host, port: n.port, rack: n.rack ?? '', listeners: n.listeners ?? [] });
const fromMessage = (n: NodeMessage): GatewayNode => ({
  nodeId: n.nodeId,
  host: n.host,
  port: n.port,
  rack: n.rack || null,
  ...(n.listeners && n.listeners.length > 0 ? { listeners: n.listeners } : {}),
});

function serviceError(code: grpc.status, message: string): grpc.ServiceError {
  return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() });
}

export class GatewayHub {
  readonly registry = new GatewayRegistry();
  private core: GatewayContext | undefined;
  private readonly joined = new Set<grpc.ServerWritableStream<unknown, unknown>>();

  constructor(private readonly log: (message: string) => void = () => undefined) {}

  /** The broker's own gateway, which answers forwarded requests. Until attached they are UNAVAILABLE. */
  attach(core: GatewayContext): void {
    this.core = core;
  }

  /** The service to add to the broker's control server. */
  service(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    return {
      definition: hubService().service,
      implementation: {
        join: (call: grpc.ServerWritableStream<{ node: NodeMessage | null }, unknown>) => void this.join(call),
        forward: (call: grpc.ServerUnaryCall<{ frame: Buffer; clientHost: string; principal: string; listener: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
          this.forward(call.request.frame, call.request.clientHost, KafkaSession.forwarded(call.request.listener || 'PLAINTEXT', call.request.principal), callback, isClusterMember(call.metadata)),
      },
    };
  }

  /** Ends every Join call (the gateways see the broker go and try again). */
  close(): void {
    for (const call of [...this.joined]) call.end();
    this.joined.clear();
  }

  /** Only a cluster member joins, only at its own address, never at a live gateway's (the hub's interceptor checked the proof already). */
  private async join(call: grpc.ServerWritableStream<{ node: NodeMessage | null }, unknown>): Promise<void> {
    const wanted = call.request.node;
    const refusal = !isClusterMember(call.metadata)
      ? 'Join is for members of the cluster only (no valid cluster proof)'
      : wanted
        ? (await joinAddressRefusal(wanted.host, call.getPeer())) ??
          (this.registry.nodes().some((n) => n.host === wanted.host && n.port === wanted.port) ? `a live gateway is registered at ${wanted.host}:${wanted.port}` : undefined)
        : undefined;
    // The caller may have gone while its host was looked up: registering it now would leave a gateway nobody removes.
    if (call.cancelled) return;
    if (refusal) {
      this.log(`gateway refused (from ${call.getPeer()}): ${refusal}`);
      call.emit('error', serviceError(isClusterMember(call.metadata) ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED, refusal));
      return;
    }
    let entry: ReturnType<GatewayRegistry['add']>;
    try {
      if (!wanted) throw new RangeError('Join needs the gateway node');
      const { nodeId, ...rest } = fromMessage(wanted);
      entry = this.registry.add({ ...rest, nodeId: nodeId < 0 ? undefined : nodeId });
    } catch (err) {
      const message = (err as Error).message;
      this.log(`gateway refused: ${message}`);
      call.emit('error', serviceError(err instanceof NodeIdTakenError ? grpc.status.ALREADY_EXISTS : grpc.status.INVALID_ARGUMENT, message));
      return;
    }
    const { node } = entry;
    this.log(`gateway ${node.nodeId} joined (Kafka on ${node.host}:${node.port}); ${this.registry.nodes().length} gateway(s) now`);
    call.write({ nodeId: node.nodeId, nodes: this.registry.nodes().map(toMessage) });
    this.joined.add(call);
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      entry.remove();
      this.joined.delete(call);
      this.log(`gateway ${node.nodeId} left; ${this.registry.nodes().length} gateway(s) now`);
    };
    call.on('cancelled', leave);
    call.on('error', leave);
    call.on('close', leave);
    call.on('finish', leave);
  }

  private forward(frame: Buffer, clientHost: string, session: KafkaSession, callback: grpc.sendUnaryData<unknown>, member: boolean): void {
    // The broker's gateway answers as the cluster itself: only a member's frames (its own clients' were checked at its door).
    if (!member) return callback(serviceError(grpc.status.UNAUTHENTICATED, 'Forward is for members of the cluster only (no valid cluster proof)'));
    const core = this.core;
    if (!core) return callback(serviceError(grpc.status.UNAVAILABLE, 'the broker\'s gateway is not running yet'));
    answerFrame(core, frame, clientHost, session).then(
      (chunks) => callback(null, { chunks }),
      (err: Error) => {
        const malformed = err instanceof ProtocolError;
        if (!malformed) core.log(`forwarded request failed: ${err.stack ?? err.message}`);
        callback(serviceError(malformed ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, err.message));
      },
    );
  }
}

export interface Membership {
  nodeId: number;
  nodes: GatewayNode[];
}

/** A gateway's link to the broker's hub. */
export class HubClient {
  private readonly client: grpc.Client;

  constructor(address: string, maxMessageBytes: number) {
    const Client = hubService();
    this.client = new Client(address, channelCredentials(), {
      ...memberClientOptions(),
      'grpc.max_send_message_length': maxMessageBytes,
      'grpc.max_receive_message_length': maxMessageBytes,
    });
  }

  /** Joins; resolves with the membership (the node id given), then calls `onLost` once when the call ends. */
  join(node: Omit<GatewayNode, 'nodeId'> & { nodeId?: number }, onLost: (err: Error) => void): Promise<{ membership: Membership; leave(): void }> {
    const stream = (this.client as unknown as { join(req: object): grpc.ClientReadableStream<{ nodeId: number; nodes: NodeMessage[] }> }).join({
      node: toMessage({ ...node, nodeId: node.nodeId ?? -1 }),
    });
    return new Promise((resolve, reject) => {
      let first = true;
      let ended = false;
      const end = (err: Error): void => {
        if (ended) return;
        ended = true;
        if (first) reject(err);
        else onLost(err);
      };
      stream.once('data', (m: { nodeId: number; nodes: NodeMessage[] }) => {
        first = false;
        resolve({ membership: { nodeId: m.nodeId, nodes: m.nodes.map(fromMessage) }, leave: () => stream.cancel() });
      });
      stream.on('error', (err: grpc.ServiceError) => end(new Error(err.details || err.message)));
      stream.on('end', () => end(new Error('the broker ended the gateway\'s membership')));
    });
  }

  /** Sends one Kafka request frame to the broker's gateway; resolves with the response bytes. */
  forward(frame: Buffer, clientHost: string, session: { principal: string; listenerName: string }): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      const request = { frame, clientHost, principal: session.principal, listener: session.listenerName };
      (this.client as unknown as { forward(req: object, cb: grpc.requestCallback<{ chunks: Buffer[] }>): void }).forward(request, (err, reply) =>
        err ? reject(new Error(`forwarding to the broker: ${err.details || err.message}`)) : resolve(reply!.chunks),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

// The broker's Users service (users.proto) and its client: `rdmq users` and
// gateways of their own (which fetch credentials to check SASL logins).
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { channelCredentials, memberClientOptions, protoService } from '../../control-plane';
import { ScramCredential, ScramMechanism } from '../../format/sasl';
import type { Broker } from '../broker';
import { refusedOnceDeposed, unary } from '../control-service';
import { BrokerError } from '../topics';
import { parseMechanism, ScramDeletion, ScramUpsertion, UserDescription } from './credentials';

export const USERS_PROTO_PATH = path.join(__dirname, '..', '..', '..', 'broker', 'security', 'users.proto');

export function usersService(): grpc.ServiceClientConstructor {
  return protoService(USERS_PROTO_PATH, 'rdmq.broker.v1.Users');
}

interface UserResultMessage {
  user: string;
  error: string;
  message: string;
  credentials: { mechanism: string; iterations: number }[];
}

/** The service to add to the broker's control server. */
export function usersServiceOf(broker: Broker, deposed?: () => { leader?: string } | undefined): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  return {
    definition: usersService().service,
    implementation: refusedOnceDeposed(deposed, {
      describeUsers: unary((call) => {
        const names = (call.request.users as string[] | undefined) ?? [];
        const users: UserResultMessage[] = broker.users.describe(names.length > 0 ? names : undefined).map((r) => ({
          user: r.user,
          error: r.error?.code ?? 'NONE',
          message: r.error?.message ?? '',
          credentials: r.description?.credentials ?? [],
        }));
        return { users };
      }),
      alterUsers: unary(async (call) => {
        const req = call.request as { upsertions: { user: string; mechanism: string; iterations: number; salt: Buffer; saltedPassword: Buffer }[]; deletions: { user: string; mechanism: string }[] };
        const upsertions: ScramUpsertion[] = req.upsertions.map((u) => ({ ...u, mechanism: parseMechanism(u.mechanism) }));
        const deletions: ScramDeletion[] = req.deletions.map((d) => ({ user: d.user, mechanism: parseMechanism(d.mechanism) }));
        const results = await broker.users.alter(upsertions, deletions);
        return { users: results.map((r) => ({ user: r.user, error: r.error?.code ?? 'NONE', message: r.error?.message ?? '', credentials: [] })) };
      }),
      getCredential: unary((call) => {
        const req = call.request as { user: string; mechanism: string };
        const found = broker.users.lookup(req.user, parseMechanism(req.mechanism));
        if (!found) return { found: false };
        return { found: true, salt: found.salt, iterations: found.iterations, storedKey: found.storedKey, serverKey: found.serverKey };
      }),
    }),
  };
}

/** A user's outcome as the service reports it. */
export interface UserOutcome {
  user: string;
  /** Kafka error name, 'NONE' when none. */
  error: string;
  message: string;
  credentials: UserDescription['credentials'];
}

export class UsersClient {
  private readonly client: grpc.Client;

  constructor(
    private readonly address: string,
    credentials: grpc.ChannelCredentials = channelCredentials(),
  ) {
    const Client = usersService();
    // Members only (broker/control-service.ts): every call carries the cluster proof.
    this.client = new Client(address, credentials, memberClientOptions());
  }

  private call<T>(method: string, request: object, deadlineMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, (req: object, opts: grpc.CallOptions, cb: grpc.requestCallback<T>) => void>)[method].bind(this.client);
      fn(request, { deadline: Date.now() + deadlineMs }, (err, reply) => {
        if (!err) return resolve(reply!);
        const name = err.metadata?.get('rdmq-error')?.[0];
        if (err.code === grpc.status.UNAVAILABLE && !name) return reject(new Error(`no rdmq broker answers at ${this.address} (is rdmq running there?): ${err.details || err.message}`));
        reject(name ? new BrokerError(String(name) as BrokerError['code'], err.details || err.message) : new Error(err.details || err.message));
      });
    });
  }

  async describe(users: string[] = []): Promise<UserOutcome[]> {
    const reply = await this.call<{ users: UserOutcome[] }>('describeUsers', { users });
    return reply.users.map((u) => ({ ...u, credentials: u.credentials.map((c) => ({ mechanism: c.mechanism as ScramMechanism, iterations: c.iterations })) }));
  }

  async alter(upsertions: ScramUpsertion[], deletions: ScramDeletion[]): Promise<UserOutcome[]> {
    return (await this.call<{ users: UserOutcome[] }>('alterUsers', { upsertions, deletions })).users;
  }

  async credential(user: string, mechanism: ScramMechanism): Promise<ScramCredential | undefined> {
    const reply = await this.call<{ found: boolean; salt: Buffer; iterations: number; storedKey: Buffer; serverKey: Buffer }>('getCredential', { user, mechanism });
    if (!reply.found) return undefined;
    return { mechanism, salt: reply.salt, iterations: reply.iterations, storedKey: reply.storedKey, serverKey: reply.serverKey };
  }

  close(): void {
    this.client.close();
  }
}

/**
 * A gateway's view of the users: each credential fetched from the broker is
 * kept `ttlMs` (absence too), so a changed or deleted password takes effect on
 * new logins within that time, and a flood of logins costs one call per user.
 */
export class CachedCredentials {
  private readonly cache = new Map<string, { credential: ScramCredential | undefined; expiresAtMs: number }>();

  constructor(
    private readonly fetch: (user: string, mechanism: ScramMechanism) => Promise<ScramCredential | undefined>,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async lookup(user: string, mechanism: ScramMechanism): Promise<ScramCredential | undefined> {
    const key = `${mechanism}\u0000${user}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.expiresAtMs > now) return hit.credential;
    const credential = await this.fetch(user, mechanism);
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(key, { credential, expiresAtMs: now + this.ttlMs });
    return credential;
  }
}

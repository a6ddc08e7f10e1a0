// The ACLs of a gateway of its own (`rdmq gateway`): a copy of the broker's
// bindings and authorizer settings, decided locally for Produce and Fetch
// (forwarded requests are decided by the broker's gateway).
//
// The gateway polls: every `refreshMs` (default 500 ms) it sends GetAcls with
// the version it holds, and the broker answers with the bindings only when
// the version moved. So a new or removed ACL takes effect on such a gateway
// within about `refreshMs` (plus one round trip); in the broker's own gateway
// and on the fast path at once. While the broker cannot be reached the last
// copy keeps deciding. Nothing is served before the first copy arrived.
import { AclBinding, Authorizer, AuthorizationRequest, bindingFromWireAcl } from '../broker';
import type { Connection } from '../rdma-client';
import type { AclDecider } from './authorization';

interface AclSnapshotMessage {
  version: string | number;
  changed: boolean;
  bindings: Record<keyof AclBinding, string>[];
  superUsers: string[];
  allowEveryoneIfNoAclFound: boolean;
}

export class RemoteAcls implements AclDecider {
  private version = -1;
  private bindings: AclBinding[] = [];
  private authorizer: Authorizer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly connection: () => Connection,
    private readonly refreshMs = 500,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  /** Loads the first copy (throws when the broker does not answer), then keeps polling. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.poll(), this.refreshMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  authorize(request: AuthorizationRequest): boolean {
    return this.current().authorize(request);
  }

  authorizeAny(request: Omit<AuthorizationRequest, 'resourceName'>): boolean {
    return this.current().authorizeAny(request);
  }

  private current(): Authorizer {
    // start() ran before any connection was served; refuse rather than guess if it did not.
    if (!this.authorizer) return new Authorizer(() => ({ version: 0, bindings: [] }), { allowEveryoneIfNoAclFound: false });
    return this.authorizer;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.refresh();
    } catch (err) {
      this.log(`refreshing ACLs from the broker: ${(err as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  private async refresh(): Promise<void> {
    const snapshot = await this.connection().call<AclSnapshotMessage>('getAcls', { knownVersion: Math.max(this.version, 0) }, 5000);
    const version = Number(snapshot.version);
    if (!snapshot.changed && this.authorizer) return;
    this.bindings = snapshot.bindings.map(bindingFromWireAcl);
    this.version = version;
    const bindings = this.bindings;
    this.authorizer = new Authorizer(() => ({ version, bindings }), {
      superUsers: snapshot.superUsers,
      allowEveryoneIfNoAclFound: snapshot.allowEveryoneIfNoAclFound,
    });
  }
}

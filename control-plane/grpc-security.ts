// TLS and cluster membership for every gRPC channel and server of rdmq.
// One setting per process (configureControlPlane): the CLI sets it from its
// flags before a role starts; an SDK application may set it, or name files
// in RDMQ_CLUSTER_SECRET_FILE / RDMQ_CONTROL_TLS_CA|CERT|KEY.
import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import { readClusterSecret } from './cluster-secret';
import { MEMBER_METADATA_KEY, PROOF_METADATA_KEY, proofRefusal, proveMembership } from './member-proof';

export interface ControlTls {
  /** PEM of the CA that signed the servers' certificates (clients verify servers with it). */
  ca?: Buffer;
  /** PEM certificate and key this process serves with (and presents as a client). */
  cert?: Buffer;
  key?: Buffer;
}

export interface ControlPlaneSecurity {
  clusterSecret?: Buffer;
  tls?: ControlTls;
}

let configured: ControlPlaneSecurity | undefined;

export function configureControlPlane(security: ControlPlaneSecurity): void {
  configured = security;
}

function readPem(variable: string): Buffer | undefined {
  const file = process.env[variable];
  return file ? fs.readFileSync(file) : undefined;
}

/** What this process uses: as configured, else from the environment. */
export function controlPlaneSecurity(): ControlPlaneSecurity {
  if (!configured) {
    const secretFile = process.env.RDMQ_CLUSTER_SECRET_FILE;
    const tls = { ca: readPem('RDMQ_CONTROL_TLS_CA'), cert: readPem('RDMQ_CONTROL_TLS_CERT'), key: readPem('RDMQ_CONTROL_TLS_KEY') };
    configured = { clusterSecret: secretFile ? readClusterSecret(secretFile) : undefined, tls: tls.ca || tls.cert ? tls : undefined };
  }
  return configured;
}

/** TLS verified by the CA when one is set (or the certificate and key given, with the system's CAs), plaintext otherwise. */
export function channelCredentials(): grpc.ChannelCredentials {
  const tls = controlPlaneSecurity().tls;
  if (!tls || (!tls.ca && !tls.cert)) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

/** Adds the cluster proof to every call a member makes. */
const proofInterceptor: grpc.Interceptor = (options, nextCall) =>
  new grpc.InterceptingCall(nextCall(options), {
    start: (metadata, listener, next) => {
      const secret = controlPlaneSecurity().clusterSecret;
      if (secret) metadata.set(PROOF_METADATA_KEY, proveMembership(secret, options.method_definition.path));
      next(metadata, listener);
    },
  });

/** Client options for every rdmq gRPC client: the proof interceptor. */
export function memberClientOptions(): Partial<grpc.ClientOptions> {
  return { interceptors: [proofInterceptor] };
}

/** TLS with this process's certificate when it has one, plaintext otherwise (refused off loopback by listen-policy.ts). */
export function serverCredentials(): grpc.ServerCredentials {
  const tls = controlPlaneSecurity().tls;
  if (!tls?.cert || !tls.key) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false);
}

/** True when the server checked this call's cluster proof (set by membershipInterceptor only). */
export function isClusterMember(metadata: grpc.Metadata): boolean {
  return metadata.get(MEMBER_METADATA_KEY)[0] === 'true';
}

/**
 * Checks the cluster proof of every call: a call to a method `membersOnly`
 * names without a valid proof ends UNAUTHENTICATED before its handler runs;
 * any other call goes on, marked as a member's when its proof held.
 */
export function membershipInterceptor(membersOnly: (methodPath: string) => boolean, log?: (message: string) => void): grpc.ServerInterceptor {
  return (method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        metadata.remove(MEMBER_METADATA_KEY);
        const proof = metadata.get(PROOF_METADATA_KEY)[0];
        const refusal = proofRefusal(controlPlaneSecurity().clusterSecret, method.path, proof === undefined ? undefined : String(proof));
        if (refusal === undefined) {
          metadata.set(MEMBER_METADATA_KEY, 'true');
        } else if (membersOnly(method.path)) {
          const details = `${method.path} is for members of the cluster only: ${refusal}`;
          log?.(`refused ${method.path} from ${call.getPeer()}: ${refusal}`);
          call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details, metadata: new grpc.Metadata() });
          return;
        }
        next(metadata);
      })
      .build();
    return new grpc.ServerInterceptingCall(call, new grpc.ResponderBuilder().withStart((next) => next(listener)).build());
  };
}

// The control plane's security, shared by every role: the cluster secret,
// members' proofs on gRPC calls, TLS, and where listeners may bind.
export { ClusterSecretError, dataDirSecretFile, ensureClusterSecret, readClusterSecret, userSecretFile, CLUSTER_SECRET_FILE_NAME } from './cluster-secret';
export { fastPathMemberMethod, MEMBER_METADATA_KEY, PROOF_METADATA_KEY, PROOF_AGE_MS_MAX, proveMembership, proofRefusal } from './member-proof';
export {
  channelCredentials,
  configureControlPlane,
  controlPlaneSecurity,
  ControlPlaneSecurity,
  ControlTls,
  isClusterMember,
  memberClientOptions,
  membershipInterceptor,
  serverCredentials,
} from './grpc-security';
export { protoService } from './proto-service';
export { checkListenPlan, deviceOf, InsecureListenError, isLoopbackHost, ListenPlan, restrictUcxToHost } from './listen-policy';

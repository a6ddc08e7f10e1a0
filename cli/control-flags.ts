// The flags of every command that calls the control plane (set up by
// cli/control-plane-setup.ts): which secret proves membership, and gRPC TLS.
export const CONTROL_FLAGS = {
  'cluster-secret-file': { type: 'string' },
  'control-tls-ca': { type: 'string' },
  'control-tls-cert': { type: 'string' },
  'control-tls-key': { type: 'string' },
} as const;

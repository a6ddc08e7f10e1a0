// The Kafka door's listeners and TLS from the server settings (README:
// Security › Identity). Parsed and the PEM files read before anything
// starts, so a bad path or a key that does not match is one clear line.
import type { KafkaListenerOptions } from '../gateway/server';
import { ListenerConfigError, loadTls, parseListeners, usesSasl, usesTls } from '../gateway/security/listeners';
import { ConfigError, ServerConfig } from './config';

/** Every Kafka listener: --listeners, or one PLAINTEXT listener on --kafka. */
export function kafkaListenersOf(config: ServerConfig): KafkaListenerOptions[] {
  try {
    const specs = config.listeners
      ? parseListeners(config.listeners, config.advertisedListeners, config.listenerSecurityProtocolMap)
      : parseListeners(`PLAINTEXT://${config.kafka}`, config.advertisedListeners, config.listenerSecurityProtocolMap);
    if (!config.listeners) specs[0].advertisedHost ??= config.advertisedHost;
    const tlsNeeded = specs.some((s) => usesTls(s.protocol));
    if (!tlsNeeded && (config.tlsCert ?? config.tlsKey ?? config.tlsCa) !== undefined) {
      throw new ListenerConfigError('--tls-cert/--tls-key/--tls-ca are given but no listener uses TLS (SSL or SASL_SSL in --listeners)');
    }
    const tls = tlsNeeded
      ? loadTls(config.tlsCert && config.tlsKey ? { cert: config.tlsCert, key: config.tlsKey, ca: config.tlsCa, clientAuth: config.tlsClientAuth } : undefined)
      : undefined;
    if (config.requireAuthentication) {
      const open = specs.filter((s) => !usesSasl(s.protocol) && !(s.protocol === 'SSL' && config.tlsClientAuth === 'required'));
      if (open.length > 0) {
        throw new ListenerConfigError(
          `--require-authentication: listener ${open.map((s) => `${s.name} (${s.protocol})`).join(', ')} lets clients in without authenticating; ` +
            'use SASL_PLAINTEXT, SASL_SSL, or SSL with --tls-client-auth required',
        );
      }
    }
    return specs.map((s) => ({ ...s, ...(usesTls(s.protocol) ? { tls } : {}) }));
  } catch (err) {
    if (err instanceof ListenerConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

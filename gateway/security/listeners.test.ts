// Kafka's listener settings as rdmq reads them (gateway/security/listeners.ts).
import { loadTls, parseListeners } from './listeners';

describe('listeners', () => {
  it('reads several listeners, names mapped to protocols, and advertised addresses per listener', () => {
    expect(
      parseListeners('PLAINTEXT://127.0.0.1:9092,external://:9094', 'EXTERNAL://kafka.example.com:19094', 'EXTERNAL:SASL_SSL'),
    ).toEqual([
      { name: 'PLAINTEXT', protocol: 'PLAINTEXT', host: '127.0.0.1', port: 9092 },
      { name: 'EXTERNAL', protocol: 'SASL_SSL', host: '0.0.0.0', port: 9094, advertisedHost: 'kafka.example.com', advertisedPort: 19094 },
    ]);
  });

  it('refuses what Kafka refuses, saying what is allowed', () => {
    expect(() => parseListeners('INTERNAL://127.0.0.1:9092')).toThrow(/map it with --listener-security-protocol-map INTERNAL:PROTOCOL/);
    expect(() => parseListeners('PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093')).toThrow(/named twice/);
    expect(() => parseListeners('127.0.0.1:9092')).toThrow(/must be NAME:\/\/HOST:PORT/);
    expect(() => parseListeners('PLAINTEXT://127.0.0.1:9092', 'SSL://h:1')).toThrow(/names SSL, which --listeners does not/);
    expect(() => parseListeners('PLAINTEXT://0.0.0.0:9092', 'PLAINTEXT://0.0.0.0:9092')).toThrow(/host clients can reach/);
    expect(() => parseListeners('X://h:1', undefined, 'X:TLS')).toThrow(/PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/);
  });

  it('a TLS listener needs readable PEM files, and mutual TLS a CA', () => {
    expect(() => loadTls(undefined)).toThrow(/needs --tls-cert and --tls-key/);
    expect(() => loadTls({ cert: '/nonexistent/c.pem', key: '/nonexistent/k.pem' })).toThrow(/cannot read --tls-cert \/nonexistent\/c.pem: ENOENT/);
    expect(() => loadTls({ cert: '/dev/null', key: '/dev/null', clientAuth: 'required' })).toThrow(/--tls-client-auth required needs --tls-ca/);
  });
});

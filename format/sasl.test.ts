// SASL PLAIN and SCRAM (format/sasl.ts): RFC 7677's SCRAM-SHA-256 example
// byte for byte, both mechanisms end to end, and every refusal.
import { passwordMatches, SASL_AUTHENTICATION_FAILED, saslClient, SaslError, saslServer, ScramCredential, scramCredentialOf, ScramMechanism } from './sasl';

function store(entries: [string, ScramCredential][]) {
  const byKey = new Map(entries.map(([user, c]) => [`${user}/${c.mechanism}`, c]));
  return async (user: string, mechanism: ScramMechanism) => byKey.get(`${user}/${mechanism}`);
}

async function refusal(promise: Promise<unknown>): Promise<SaslError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SaslError) return err;
    throw err;
  }
  throw new Error('expected a SaslError');
}

describe('SCRAM', () => {
  it('follows RFC 7677\'s SCRAM-SHA-256 example exchange byte for byte', async () => {
    const credential = scramCredentialOf('SCRAM-SHA-256', 'pencil', 4096, Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
    const server = saslServer('SCRAM-SHA-256', store([['user', credential]]), { serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });
    const client = saslClient('SCRAM-SHA-256', 'user', 'pencil', { clientNonce: 'rOprNGfwEbeRWgbNEkqO' });
    const clientFirst = client.start();
    expect(clientFirst.toString()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const serverFirst = await server.step(clientFirst);
    expect(serverFirst.challenge.toString()).toBe('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    const clientFinal = client.step(serverFirst.challenge)!;
    expect(clientFinal.toString()).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    const serverFinal = await server.step(clientFinal);
    expect(serverFinal).toEqual({ done: true, user: 'user', challenge: Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=') });
    expect(client.step(serverFinal.challenge)).toBeNull();
  });

  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    it(`${mechanism}: the right password logs in, a wrong one or an unknown user is refused with 58, and the exchange cannot be replayed`, async () => {
      const lookup = store([['a,b=c', scramCredentialOf(mechanism, 'secret', 4096)]]);
      const login = async (user: string, password: string) => {
        const server = saslServer(mechanism, lookup);
        const client = saslClient(mechanism, user, password);
        const first = await server.step(client.start());
        const final = await server.step(client.step(first.challenge)!);
        expect(client.step(final.challenge)).toBeNull();
        await expect(server.step(Buffer.from('again'))).rejects.toThrow(/complete/);
        return final;
      };
      expect(await login('a,b=c', 'secret')).toMatchObject({ done: true, user: 'a,b=c' });
      expect((await refusal(login('a,b=c', 'wrong'))).kafkaErrorCode).toBe(SASL_AUTHENTICATION_FAILED);
      expect((await refusal(login('nobody', 'secret'))).kafkaErrorCode).toBe(SASL_AUTHENTICATION_FAILED);
    });
  }

  it('refuses channel binding, a nonce that is not the server\'s, and an authorization id other than the user', async () => {
    const lookup = store([['u', scramCredentialOf('SCRAM-SHA-256', 'pw', 4096)]]);
    await expect(saslServer('SCRAM-SHA-256', lookup).step(Buffer.from('p=tls-unique,,n=u,r=abc'))).rejects.toThrow(/channel binding/);
    await expect(saslServer('SCRAM-SHA-256', lookup).step(Buffer.from('n,a=root,n=u,r=abc'))).rejects.toThrow(/authorization id/);
    const server = saslServer('SCRAM-SHA-256', lookup);
    await server.step(Buffer.from('n,,n=u,r=abc'));
    await expect(server.step(Buffer.from(`c=biws,r=abcforged,p=${Buffer.alloc(32).toString('base64')}`))).rejects.toThrow(/nonce/);
  });

  it('stores no password: the credential holds salt, iterations and keys, and refuses fewer than 4096 iterations', () => {
    const credential = scramCredentialOf('SCRAM-SHA-512', 'hunter2', 4096);
    expect(Object.keys(credential).sort()).toEqual(['iterations', 'mechanism', 'salt', 'serverKey', 'storedKey']);
    expect(JSON.stringify(credential)).not.toMatch(/hunter2/);
    expect(passwordMatches(credential, 'hunter2')).toBe(true);
    expect(passwordMatches(credential, 'hunter3')).toBe(false);
    expect(() => scramCredentialOf('SCRAM-SHA-256', 'pw', 4095)).toThrow(/4096/);
  });
});

describe('PLAIN', () => {
  it('checks the password against the SCRAM store and refuses a wrong one, a foreign authorization id and a second message', async () => {
    const lookup = store([['alice', scramCredentialOf('SCRAM-SHA-512', 'pw', 4096)]]);
    expect(await saslServer('PLAIN', lookup).step(saslClient('PLAIN', 'alice', 'pw').start())).toMatchObject({ done: true, user: 'alice' });
    expect((await refusal(saslServer('PLAIN', lookup).step(Buffer.from('\u0000alice\u0000nope')))).kafkaErrorCode).toBe(58);
    await expect(saslServer('PLAIN', lookup).step(Buffer.from('bob\u0000alice\u0000pw'))).rejects.toThrow(/authorization id/);
    const once = saslServer('PLAIN', lookup);
    await once.step(Buffer.from('\u0000alice\u0000pw'));
    await expect(once.step(Buffer.from('\u0000alice\u0000pw'))).rejects.toThrow(/one message/);
  });
});

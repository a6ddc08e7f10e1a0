import { kafkaClusterId } from './cluster-id';

describe('the Kafka cluster id', () => {
  it("is the region UUID's 16 bytes in URL-safe base64, 22 characters, the same every time", () => {
    const id = kafkaClusterId('fbe1b2cf-ff7e-4b3c-9a4e-3f1d2c0b7a65');
    expect(id).toBe(Buffer.from('fbe1b2cfff7e4b3c9a4e3f1d2c0b7a65', 'hex').toString('base64url'));
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(kafkaClusterId('FBE1B2CF-FF7E-4B3C-9A4E-3F1D2C0B7A65')).toBe(id);
    expect(kafkaClusterId('fbe1b2cf-ff7e-4b3c-9a4e-3f1d2c0b7a66')).not.toBe(id);
  });

  it('turns a stored id that is not a UUID into one fixed id of the same format', () => {
    expect(kafkaClusterId('not-a-uuid')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(kafkaClusterId('not-a-uuid')).toBe(kafkaClusterId('not-a-uuid'));
  });
});

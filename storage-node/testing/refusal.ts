import { StorageError } from '../storage-error';

/** The StorageError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function storageRefusal(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(StorageError);
    return err as StorageError;
  }
  throw new Error('expected the call to be refused');
}

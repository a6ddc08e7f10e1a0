// FindCoordinator: api key 10, v0–4, flexible from v3.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const findCoordinatorApi = defineApi({
  apiKey: 10,
  name: 'FindCoordinator',
  versions: '0-4',
  flexible: '3+',
  request: [
    f('key', 'string', '0-3'),
    f('keyType', 'int8', '1+', { default: 0 }),
    f('coordinatorKeys', arrayOf('string'), '4+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16', '0-3'),
    f('errorMessage', 'string', '1-3', { nullable: '1-3' }),
    f('nodeId', 'int32', '0-3'),
    f('host', 'string', '0-3'),
    f('port', 'int32', '0-3'),
    f('coordinators', arrayOf(struct(
      f('key', 'string', '4+'),
      f('nodeId', 'int32', '4+'),
      f('host', 'string', '4+'),
      f('port', 'int32', '4+'),
      f('errorCode', 'int16', '4+'),
      f('errorMessage', 'string', '4+', { nullable: '4+' }),
    )), '4+'),
  ],
});

export type FindCoordinatorRequest = RequestOf<typeof findCoordinatorApi>;
export type FindCoordinatorResponse = ResponseOf<typeof findCoordinatorApi>;
export type FindCoordinatorResponseInput = ResponseInputOf<typeof findCoordinatorApi>;

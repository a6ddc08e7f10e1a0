// The Kafka gateway's public interface: existing Kafka clients talk to rdmq
// through it unchanged.
//
//   const gateway = await startGateway({ host: '127.0.0.1', port: 9092, broker, groups, connection });
//   ...
//   await gateway.close();
export { startGateway, GatewayOptions, RunningGateway } from './server';
export { GatewayLimits, GatewayLimitsInput, GatewayLimitsSchema, parseGatewayLimits } from './config';
export { advertisable, GatewayNode, GatewayRegistry, Leadership, leadershipOver, staticLeadership } from './leadership';
export { GatewayHub, HubClient, hubService } from './hub';
export { startRemoteGateway, RemoteGatewayOptions, RunningRemoteGateway } from './remote';

/** Public entry point of the platform simulator. */
export { Simulator, DEFAULT_ACK_TIMEOUT_MS, brokerPath } from "./simulator";
export type {
    SimulatorOptions,
    FireRuleOptions,
    FireFunctionOptions,
    RawMessageOptions,
    StartedInvocation,
    AutomaticRuleEvaluation,
} from "./simulator";
export type { BrokerConnectionOptions } from "./action-module";
export type { HttpServerOptions } from "./http";
export type { Invocation, InvocationStatus, Reply, StatusChange } from "./invocations";
export { ContextTokenIssuer, decodeContextTokenPayload } from "./context-token";
export type { ContextTokenClaims } from "./context-token";
export { DEFAULT_CREDENTIALS } from "./rest/auth";
export type { RestCredentials } from "./rest/auth";
export { consoleLogger, silentLogger } from "./log";
export type { SimulatorLogger } from "./log";
export { PlatformState } from "./state";

/** Log sink of the simulator; tests pass a silent or collecting logger. */
export interface SimulatorLogger {
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
}

/** Logger that writes to the console with a `[simulator]` prefix. */
export const consoleLogger: SimulatorLogger = {
    info: (message) => console.log(`[simulator] ${message}`),
    warn: (message) => console.warn(`[simulator] warning: ${message}`),
    error: (message) => console.error(`[simulator] error: ${message}`),
};

/** Logger that drops every line. */
export const silentLogger: SimulatorLogger = {
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
};

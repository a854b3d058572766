// The package ships no types; this covers the part of its API the tests use.
declare module "node-red-node-test-helper" {
    import type { EventEmitter } from "node:events";

    interface TestNode extends EventEmitter {
        id: string;
        receive(msg: unknown): void;
    }

    interface NodeTestHelper {
        init(runtimePath?: string, userSettings?: Record<string, unknown>): void;
        settings(userSettings: Record<string, unknown>): Record<string, unknown>;
        load(nodes: unknown[], flow: unknown[], credentials?: Record<string, unknown>): Promise<void>;
        unload(): Promise<void>;
        getNode(id: string): TestNode;
        startServer(done: (error?: Error) => void): void;
        stopServer(done: (error?: Error) => void): void;
        request(): unknown;
        log(): { args: unknown[][]; getCalls(): Array<{ args: unknown[] }> };
    }

    const helper: NodeTestHelper;
    export default helper;
}

import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { statusForError } from "./errors";
import type { SimulatorLogger } from "./log";
import { createContext, sendJson, type Router } from "./router";

/** Listen address, port and TLS settings of the simulator's HTTP server. */
export interface HttpServerOptions {
    /** Listen address (default 127.0.0.1). */
    host?: string;
    /** Port; 0 picks a free one (default 0). */
    port?: number;
    /** Serve HTTPS with this PEM certificate chain and key instead of plain HTTP. */
    tls?: { cert: string | Buffer; key: string | Buffer };
}

/** A group of routes under a path prefix, with its own error body. */
export interface Mount {
    prefix: string;
    router: Router;
    /** Builds the error body for a status and message. */
    errorBody: (status: number, message: string) => unknown;
}

/**
 * The HTTP(S) server of the simulator. It dispatches requests to the
 * mounted routers by path prefix (`/sim/`, `/rest/`) and turns thrown
 * errors into the mount's error body.
 */
export class SimulatorHttpServer {
    private readonly server: http.Server;
    private readonly mounts: Mount[] = [];

    public constructor(private readonly options: HttpServerOptions, private readonly logger: SimulatorLogger) {
        const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
            void this.handle(req, res);
        };
        this.server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, listener) : http.createServer(listener);
    }

    /** Base URL such as `https://127.0.0.1:40123`, valid after `listen`. */
    public get url(): string {
        const address = this.server.address() as AddressInfo | null;
        if (!address) {
            throw new Error("The simulator's HTTP server is not listening.");
        }
        const scheme = this.options.tls ? "https" : "http";
        const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
        return `${scheme}://${host}:${address.port}`;
    }

    /** Underlying Node server, for tests that need socket-level control. */
    public get nodeServer(): http.Server {
        return this.server;
    }

    /** Adds routes under a prefix; the first mount whose prefix matches handles the request. */
    public mount(mount: Mount): void {
        this.mounts.push(mount);
    }

    /** Starts listening and resolves with the base URL. */
    public listen(): Promise<string> {
        return new Promise((resolve, reject) => {
            this.server.once("error", reject);
            this.server.listen(this.options.port ?? 0, this.options.host ?? "127.0.0.1", () => {
                this.server.off("error", reject);
                this.logger.info(`HTTP API listening on ${this.url}.`);
                resolve(this.url);
            });
        });
    }

    /** Stops accepting requests and closes every open connection. */
    public close(): Promise<void> {
        return new Promise((resolve) => {
            if (!this.server.listening) {
                resolve();
                return;
            }
            this.server.close(() => resolve());
            this.server.closeAllConnections();
        });
    }

    private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const url = new URL(req.url ?? "/", "http://simulator.invalid");
        const mount = this.mounts.find((candidate) => url.pathname === candidate.prefix || url.pathname.startsWith(`${candidate.prefix}/`));
        if (!mount) {
            sendJson(res, 404, { error: `No route for ${url.pathname}; the simulator serves /sim/ and /rest/.` });
            return;
        }
        const method = req.method ?? "GET";
        const match = mount.router.match(method, url.pathname);
        if (match.kind === "not-found") {
            sendJson(res, 404, mount.errorBody(404, `No such resource: ${method} ${url.pathname}`));
            return;
        }
        if (match.kind === "method-not-allowed") {
            sendJson(res, 405, mount.errorBody(405, `Method ${method} is not allowed on ${url.pathname}.`), { Allow: match.allowed.join(", ") });
            return;
        }
        try {
            await match.handler(createContext(req, res, url, match.params));
        } catch (error) {
            const status = statusForError(error);
            const message = error instanceof Error ? error.message : String(error);
            if (status === 500) {
                this.logger.error(`${method} ${url.pathname} failed: ${error instanceof Error && error.stack ? error.stack : message}`);
            }
            if (res.headersSent) {
                res.destroy();
                return;
            }
            sendJson(res, status, mount.errorBody(status, message));
        }
    }
}

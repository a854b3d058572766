import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidRequestError } from "./errors";

/** One request as route handlers see it. */
export interface RequestContext {
    req: IncomingMessage;
    res: ServerResponse;
    url: URL;
    /** Path parameters by name, decoded. */
    params: Record<string, string>;
    /** Reads the whole request body, at most `maxBytes`. */
    body(maxBytes?: number): Promise<Buffer>;
    /** Reads and parses a JSON body; an empty body is `{}`. */
    json(maxBytes?: number): Promise<unknown>;
}

/** A route handler; it writes the response itself. */
export type Handler = (context: RequestContext) => Promise<void> | void;

interface Route {
    method: string;
    pattern: RegExp;
    names: string[];
    handler: Handler;
}

/** Result of matching a request against the routes. */
export type RouteMatch =
    | { kind: "found"; handler: Handler; params: Record<string, string> }
    | { kind: "method-not-allowed"; allowed: string[] }
    | { kind: "not-found" };

/** Routes by method and a path pattern with `:name` parameters, e.g. `/sim/rules/:id/fire`. */
export class Router {
    private readonly routes: Route[] = [];

    /** Adds a route; earlier routes win. */
    public add(method: string, path: string, handler: Handler): this {
        const names: string[] = [];
        const source = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:(\w+)/g, (_match, name: string) => {
            names.push(name);
            return "([^/]+)";
        });
        this.routes.push({ method, pattern: new RegExp(`^${source}/?$`), names, handler });
        return this;
    }

    /** Finds the handler for a method and path. */
    public match(method: string, pathname: string): RouteMatch {
        const allowed: string[] = [];
        for (const route of this.routes) {
            const found = route.pattern.exec(pathname);
            if (!found) {
                continue;
            }
            if (route.method !== method) {
                allowed.push(route.method);
                continue;
            }
            const params: Record<string, string> = {};
            route.names.forEach((name, index) => {
                params[name] = decodeURIComponent(found[index + 1]);
            });
            return { kind: "found", handler: route.handler, params };
        }
        return allowed.length > 0 ? { kind: "method-not-allowed", allowed } : { kind: "not-found" };
    }
}

/** Builds the context of a request; the body is read on first use and kept. */
export function createContext(req: IncomingMessage, res: ServerResponse, url: URL, params: Record<string, string>): RequestContext {
    let cached: Promise<Buffer> | undefined;
    const body = (maxBytes = 10 * 1024 * 1024): Promise<Buffer> => {
        cached ??= readBody(req, maxBytes);
        return cached;
    };
    return {
        req,
        res,
        url,
        params,
        body,
        json: async (maxBytes?: number) => {
            const raw = (await body(maxBytes)).toString("utf8");
            if (raw.trim() === "") {
                return {};
            }
            try {
                return JSON.parse(raw) as unknown;
            } catch (error) {
                throw new InvalidRequestError(`The request body is not valid JSON: ${(error as Error).message}`);
            }
        },
    };
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) {
                reject(new InvalidRequestError(`The request body is larger than ${maxBytes} bytes.`));
                req.resume();
                return;
            }
            chunks.push(chunk);
        });
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
    });
}

/** Writes a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
        "Content-Type": "application/json;charset=utf-8",
        "Content-Length": Buffer.byteLength(text),
        ...headers,
    });
    res.end(text);
}

import { test, describe, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import { RestClient, RestError, createArtifact, patchObject, updateObject, uploadAttachment, type PatchRequestBody } from "../../lib/rest";

const INCIDENT_PATH = "/rest/orgs/201/incidents/2301";

/** A request as the mock received it. */
interface Received {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
}

type Incident = Record<string, unknown> & { vers: number; properties: Record<string, unknown> };

function freshIncident(): Incident {
    return {
        id: 2301,
        org_id: 201,
        vers: 5,
        name: "Suspicious login burst on vpn-gw-2",
        severity_code: 51,
        plan_status: "A",
        description: "Seen by the SIEM",
        properties: { escalated: true, siem_offense_id: "88412", vpn_gateway: null },
    };
}

/**
 * One incident behind `/rest/orgs/201/incidents/2301` with optimistic
 * locking on `vers`, plus hooks that let a test play another user who
 * changes the incident between our GET and our PUT or PATCH.
 */
class IncidentPlatform {
    public incident: Incident = freshIncident();
    public readonly received: Received[] = [];
    /** Runs before a PUT or PATCH is checked, as if someone else wrote first. */
    public beforeWrite: ((method: string) => void) | undefined;
    /** Response for the next PATCH, sent instead of applying it. */
    public patchAnswer: ((body: PatchRequestBody) => { status: number; body: unknown } | undefined) | undefined;
    /** Response for attachment and artifact uploads. */
    public uploadAnswer: (request: Received) => { status: number; body: unknown } = () => ({ status: 404, body: {} });

    private constructor(private readonly server: http.Server, public readonly port: number) {}

    public static async start(): Promise<IncidentPlatform> {
        let platform: IncidentPlatform | undefined;
        const server = http.createServer((request, response) => {
            const chunks: Buffer[] = [];
            request.on("data", (chunk: Buffer) => chunks.push(chunk));
            request.on("end", () => {
                platform?.handle({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body: Buffer.concat(chunks) }, response);
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        platform = new IncidentPlatform(server, (server.address() as net.AddressInfo).port);
        return platform;
    }

    public count(method: string, url = INCIDENT_PATH): number {
        return this.received.filter((request) => request.method === method && request.url.split("?")[0] === url).length;
    }

    public reset(): void {
        this.incident = freshIncident();
        this.received.length = 0;
        this.beforeWrite = undefined;
        this.patchAnswer = undefined;
    }

    public async stop(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private handle(request: Received, response: http.ServerResponse): void {
        this.received.push(request);
        const url = request.url.split("?")[0];
        if (url === "/rest/session") {
            send(response, 200, { orgs: [{ id: 201, name: "Blue Team", enabled: true }] });
            return;
        }
        if (url !== INCIDENT_PATH) {
            const answer = this.uploadAnswer(request);
            send(response, answer.status, answer.body);
            return;
        }
        switch (request.method) {
            case "GET":
                send(response, 200, this.incident);
                return;
            case "PUT":
                this.put(JSON.parse(request.body.toString("utf8")) as Incident, response);
                return;
            case "PATCH":
                this.patch(JSON.parse(request.body.toString("utf8")) as PatchRequestBody, response);
                return;
            default:
                send(response, 405, { success: false, title: null, message: "Method not allowed", hints: [], error_code: "generic" });
        }
    }

    private put(body: Incident, response: http.ServerResponse): void {
        this.beforeWrite?.("PUT");
        if (body.vers !== this.incident.vers) {
            send(response, 409, { success: false, title: null, message: `Incident version ${body.vers} is out of date. Current is ${this.incident.vers}`, hints: [], error_code: "generic" });
            return;
        }
        this.incident = { ...body, vers: this.incident.vers + 1 };
        send(response, 200, this.incident);
    }

    private patch(body: PatchRequestBody, response: http.ServerResponse): void {
        this.beforeWrite?.("PATCH");
        const answer = this.patchAnswer?.(body);
        if (answer) {
            send(response, answer.status, answer.body);
            return;
        }
        for (const change of body.changes) {
            if (change.field in this.incident) {
                this.incident[change.field] = change.new_value.object;
            } else {
                this.incident.properties[change.field] = change.new_value.object;
            }
        }
        this.incident.vers += 1;
        send(response, 200, { success: true, title: null, message: null, hints: [] });
    }
}

function send(response: http.ServerResponse, status: number, body: unknown): void {
    response.statusCode = status;
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify(body));
}

async function catchRestError(promise: Promise<unknown>): Promise<RestError> {
    try {
        await promise;
    } catch (error) {
        assert.ok(error instanceof RestError, `expected RestError, got ${String(error)}`);
        return error;
    }
    assert.fail("expected RestError, but the call succeeded");
}

describe("REST object helpers", () => {
    let platform: IncidentPlatform;
    let client: RestClient;

    before(async () => {
        platform = await IncidentPlatform.start();
        client = new RestClient({
            host: "127.0.0.1",
            port: platform.port,
            org: 201,
            auth: { kind: "apikey", id: "key-1", secret: "secret-1" },
            tls: false,
            retries: { max: 1, initialDelayMs: 1, maxDelayMs: 5 },
        });
    });
    after(async () => {
        await client.close(500);
        await platform.stop();
    });
    beforeEach(() => platform.reset());

    describe("updateObject", () => {
        test("survives four conflicts keeping others' changes", async () => {
            let otherWrites = 0;
            platform.beforeWrite = () => {
                if (otherWrites < 4) {
                    otherWrites += 1;
                    // Another user edits a different field and moves the version.
                    platform.incident = {
                        ...platform.incident,
                        description: `edited by someone else ${otherWrites}`,
                        properties: { ...platform.incident.properties, siem_offense_id: `other-${otherWrites}` },
                        vers: platform.incident.vers + 1,
                    };
                }
            };
            const seen: number[] = [];

            const result = await updateObject(client, {
                path: "/incidents/2301",
                contextToken: "ctx-1",
                apply: (fresh) => {
                    seen.push(fresh.vers as number);
                    return { severity_code: 52, properties: { escalated: false } };
                },
            });

            assert.equal(result.changed, true);
            assert.equal(result.tries, 5);
            assert.deepEqual(seen, [5, 6, 7, 8, 9]);
            assert.equal(platform.count("GET"), 5);
            assert.equal(platform.count("PUT"), 5);
            assert.equal(platform.incident.severity_code, 52);
            assert.equal(platform.incident.properties.escalated, false);
            assert.equal(platform.incident.description, "edited by someone else 4", "the other user's change survives");
            assert.equal(platform.incident.properties.siem_offense_id, "other-4", "the other user's custom field survives");
            assert.equal(platform.incident.vers, 10);
            assert.deepEqual(result.object, platform.incident);
            const writes = platform.received.filter((request) => request.method === "PUT");
            assert.ok(writes.every((request) => request.headers["x-co3contexttoken"] === "ctx-1"));
        });

        test("stops at the cap on endless conflicts", async () => {
            platform.beforeWrite = () => {
                platform.incident = { ...platform.incident, vers: platform.incident.vers + 1 };
            };

            const error = await catchRestError(updateObject(client, { path: "/incidents/2301", apply: () => ({ severity_code: 52 }) }));

            assert.equal(error.statusCode, 409);
            assert.equal(error.method, "PUT");
            assert.equal(error.path, INCIDENT_PATH);
            assert.equal(error.tries, 5);
            assert.match(error.message, /^PUT \/rest\/orgs\/201\/incidents\/2301 failed with HTTP 409 Conflict after 5 tries: "Incident version \d+ is out of date/);
            assert.match(error.message, /another process may be updating it/);
            assert.equal(platform.count("PUT"), 5);
        });

        test("respects a smaller maxTries", async () => {
            platform.beforeWrite = () => {
                platform.incident = { ...platform.incident, vers: platform.incident.vers + 1 };
            };

            const error = await catchRestError(updateObject(client, { path: "/incidents/2301", maxTries: 2, apply: () => ({ severity_code: 52 }) }));

            assert.equal(error.tries, 2);
            assert.equal(platform.count("PUT"), 2);
        });

        test("skips the PUT when the change is in place", async () => {
            const result = await updateObject(client, { path: "/incidents/2301", apply: () => ({ severity_code: 51, properties: { escalated: true } }) });

            assert.equal(result.changed, false);
            assert.equal(result.tries, 1);
            assert.equal(result.object.vers, 5);
            assert.equal(platform.count("PUT"), 0);
        });

        test("skips the PUT when apply returns null", async () => {
            const result = await updateObject(client, { path: "/incidents/2301", apply: () => null });

            assert.equal(result.changed, false);
            assert.equal(platform.count("PUT"), 0);
        });

        test("passes other errors through", async () => {
            const error = await catchRestError(updateObject(client, { path: "/incidents/9999", apply: () => ({ severity_code: 52 }) }));

            assert.equal(error.statusCode, 404);
            assert.equal(error.method, "GET");
        });
    });

    describe("patchObject", () => {
        test("sends only changed fields with old values", async () => {
            const result = await patchObject(client, {
                path: "/incidents/2301",
                changes: { severity_code: 52, escalated: false, "properties.vpn_gateway": "vpn-gw-2", plan_status: "A" },
                contextToken: "ctx-2",
            });

            assert.equal(result.changed, true);
            assert.equal(result.tries, 1);
            const sent = platform.received.find((request) => request.method === "PATCH") as Received;
            assert.equal(sent.headers["x-co3contexttoken"], "ctx-2");
            assert.deepEqual(JSON.parse(sent.body.toString("utf8")), {
                changes: [
                    { field: "severity_code", old_value: { object: 51 }, new_value: { object: 52 } },
                    { field: "escalated", old_value: { object: true }, new_value: { object: false } },
                    { field: "vpn_gateway", old_value: { object: null }, new_value: { object: "vpn-gw-2" } },
                ],
                version: 5,
            });
            assert.equal(platform.incident.severity_code, 52);
            assert.equal(platform.incident.properties.escalated, false);
            assert.deepEqual(result.status, { success: true, title: null, message: null, hints: [] });
        });

        test("reports field failures", async () => {
            platform.patchAnswer = () => ({
                status: 200,
                body: {
                    success: false,
                    title: null,
                    message: "Some fields changed since you read them",
                    hints: [],
                    field_failures: [{ field: "severity_code", your_original_value: 51, actual_current_value: 50 }],
                },
            });

            const error = await catchRestError(patchObject(client, { path: "/incidents/2301", changes: { severity_code: 52 } }));

            assert.deepEqual(error.fieldFailures, [{ field: "severity_code", your_original_value: 51, actual_current_value: 50 }]);
            assert.equal(error.method, "PATCH");
            assert.equal(error.path, INCIDENT_PATH);
            assert.match(error.message, /severity_code \(read 51, now 50\)/);
            assert.match(error.message, /"Some fields changed since you read them"/);
            assert.match(error.message, /decide which value should win/);
            assert.equal(platform.count("PATCH"), 1, "a field failure is not retried");
        });

        test("retries a 409 with a fresh read", async () => {
            let conflicts = 2;
            platform.patchAnswer = () => {
                if (conflicts === 0) {
                    return undefined;
                }
                conflicts -= 1;
                platform.incident = { ...platform.incident, severity_code: 50, vers: platform.incident.vers + 1 };
                return { status: 409, body: { success: false, title: null, message: "Conflict", hints: [], error_code: "generic" } };
            };

            const result = await patchObject(client, { path: "/incidents/2301", changes: { severity_code: 52 } });

            assert.equal(result.tries, 3);
            assert.equal(platform.count("GET"), 3);
            const last = platform.received.filter((request) => request.method === "PATCH").at(-1) as Received;
            assert.deepEqual(JSON.parse(last.body.toString("utf8")), {
                changes: [{ field: "severity_code", old_value: { object: 50 }, new_value: { object: 52 } }],
                version: 7,
            });
            assert.equal(platform.incident.severity_code, 52);
        });

        test("stops at the cap on endless 409", async () => {
            platform.patchAnswer = () => ({ status: 409, body: { success: false, title: null, message: "Conflict", hints: [], error_code: "generic" } });

            const error = await catchRestError(patchObject(client, { path: "/incidents/2301", changes: { severity_code: 52 }, maxTries: 3 }));

            assert.equal(error.statusCode, 409);
            assert.equal(error.tries, 3);
            assert.match(error.message, /PATCH \/rest\/orgs\/201\/incidents\/2301 failed with HTTP 409 Conflict after 3 tries/);
            assert.equal(platform.count("PATCH"), 3);
        });

        test("sends nothing when values are in place", async () => {
            const result = await patchObject(client, { path: "/incidents/2301", changes: { severity_code: 51, siem_offense_id: "88412" } });

            assert.equal(result.changed, false);
            assert.equal(result.request, undefined);
            assert.equal(platform.count("PATCH"), 0);
        });
    });

    describe("files and artifacts", () => {
        test("uploads an attachment as multipart", async () => {
            let form: FormData | undefined;
            platform.uploadAnswer = (request) => {
                if (request.url !== "/rest/orgs/201/incidents/2301/attachments") {
                    return { status: 404, body: {} };
                }
                return { status: 200, body: { id: 17, name: "report.pdf", content_type: "application/pdf", size: request.body.length, inc_id: 2301, vers: 6 } };
            };
            const data = Buffer.from([0x25, 0x50, 0x44, 0x46, 0x00, 0xff, 0x0d, 0x0a]);

            const attachment = await uploadAttachment(client, { incidentId: 2301, fileName: "report.pdf", contentType: "application/pdf", data, contextToken: "ctx-3" });

            assert.equal(attachment.id, 17);
            const sent = platform.received.find((request) => request.method === "POST") as Received;
            assert.equal(sent.headers["x-co3contexttoken"], "ctx-3");
            assert.match(String(sent.headers["content-type"]), /^multipart\/form-data; boundary=/);
            form = await new Response(new Uint8Array(sent.body), { headers: { "content-type": String(sent.headers["content-type"]) } }).formData();
            const file = form.get("file") as File;
            assert.equal(file.name, "report.pdf");
            assert.equal(file.type, "application/pdf");
            assert.deepEqual(Buffer.from(await file.arrayBuffer()), data);
        });

        test("uploads a task attachment from a file path", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rest-upload-"));
            const file = path.join(dir, "notes \"draft\".txt");
            fs.writeFileSync(file, "task notes\n");
            platform.uploadAnswer = (request) =>
                request.url === "/rest/orgs/201/tasks/88/attachments"
                    ? { status: 200, body: [{ id: 18, name: "notes.txt", task_id: 88 }] }
                    : { status: 404, body: { success: false, title: null, message: "not found", hints: [], error_code: "generic" } };
            try {
                const attachment = await uploadAttachment(client, { incidentId: 2301, taskId: 88, data: file });

                assert.equal(attachment.id, 18);
                const sent = platform.received.find((request) => request.method === "POST") as Received;
                const form = await new Response(new Uint8Array(sent.body), { headers: { "content-type": String(sent.headers["content-type"]) } }).formData();
                const part = form.get("file") as File;
                assert.equal(part.name, 'notes "draft".txt', "quotes survive the %22 encoding");
                assert.equal(part.type, "application/octet-stream");
                assert.equal(await part.text(), "task notes\n");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        test("returns the artifact array", async () => {
            platform.uploadAnswer = (request) =>
                request.url === "/rest/orgs/201/incidents/2301/artifacts"
                    ? {
                          status: 200,
                          body: [
                              { id: 31, type: 1, value: "198.51.100.23", inc_id: 2301 },
                              { id: 32, type: 2, value: "host.example.test", inc_id: 2301 },
                          ],
                      }
                    : { status: 404, body: {} };

            const artifacts = await createArtifact(client, { incidentId: 2301, type: "IP Address", value: "198.51.100.23", description: "from the SIEM", contextToken: "ctx-4" });

            assert.equal(artifacts.length, 2);
            assert.deepEqual(
                artifacts.map((artifact) => artifact.id),
                [31, 32],
            );
            const sent = platform.received.find((request) => request.method === "POST") as Received;
            assert.deepEqual(JSON.parse(sent.body.toString("utf8")), { type: "IP Address", value: "198.51.100.23", description: "from the SIEM" });
            assert.equal(sent.headers["x-co3contexttoken"], "ctx-4");
        });
    });
});

import type { Request, Response } from "express";
import type { NodeAPI } from "node-red";

import { classifyCertificateError, probeTls, type TlsProbeResult } from "../../lib/diagnostics/tls-probe";
import { StompProbe, StompProbeError } from "../../lib/diagnostics/stomp-probe";
import { OrgResolutionError, RestClient, resolveOrg, type SessionInfo } from "../../lib/rest";
import { DialogSettingsError, readDialogSettings, redactSecrets, type DialogSettings, type DialogValues } from "./dialog-settings";
import type { PlatformNode } from "./platform-types";

/** Limits of each step, in milliseconds, so that a test completes within about half a minute even when nothing responds. */
const TLS_TIMEOUT_MS = 4000;
const REST_CONNECT_TIMEOUT_MS = 4000;
const REST_REQUEST_TIMEOUT_MS = 6000;
const STOMP_TIMEOUT_MS = 6000;
const SUBSCRIBE_TIMEOUT_MS = 4000;
/** How long a destination list may take when it uses a deployed node's shared REST client, in milliseconds. */
const DEPLOYED_LIST_TIMEOUT_MS = 10000;
/** Certificates expiring sooner than this many days get a warning. */
const EXPIRY_WARNING_DAYS = 14;
/** Destinations named in a "not found" message, at most. */
const MAX_LISTED_DESTINATIONS = 20;

const PROGRAMMATIC_NAME = /^[A-Za-z0-9_.]+$/;

const packageInfo = require("../../../package.json") as { name: string; version: string };

/** Steps of a connection test, in the order they run. */
export type StepName = "settings" | "tls-rest" | "tls-stomp" | "rest" | "org" | "destination" | "stomp" | "read" | "test";

/** Outcome of one step, as the editor shows it. */
export interface TestStep {
    name: StepName;
    /** Translated title of the step. */
    label: string;
    ok: boolean;
    /** Translated explanation, with every secret of the settings replaced by `***`. */
    message: string;
    /** The step did not run, because an earlier one failed or nothing asked for it. */
    skipped?: boolean;
    /** The step passed with a caveat, e.g. certificate verification turned off. */
    warning?: boolean;
}

/** A message destination as the editor's picker lists it. */
export interface DestinationSummary {
    programmaticName: string;
    name: string;
    type: "queue" | "topic";
    expectAck: boolean;
}

/** The org's message destinations, sorted by programmatic name. */
export interface DestinationList {
    orgId: number;
    orgName: string | undefined;
    destinations: DestinationSummary[];
}

/** Body of `POST resilient-platform/test`: the dialog's values and an optional destination to check. */
interface TestRequest extends DialogValues {
    destination?: string;
    destinationType?: string;
}

/**
 * Adds the editor's admin endpoints of the `resilient-platform` node:
 *
 * - `POST resilient-platform/test` checks the open dialog's settings step
 *   by step (TLS, REST login, org, destination, STOMP login, read access).
 * - `POST resilient-platform/destinations` lists the org's message
 *   destinations for dialog values, e.g. a config node not yet deployed.
 * - `GET resilient-platform/:id/destinations` lists them through a
 *   deployed config node.
 *
 * The POST endpoints need `resilient-platform.write`, because the caller
 * chooses the host that receives the stored credentials.
 */
export function registerAdminRoutes(RED: NodeAPI): void {
    RED.httpAdmin.post("/resilient-platform/test", RED.auth.needsPermission("resilient-platform.write"), (req: Request, res: Response) => {
        void respond(RED, res, async () => ({ steps: await runConnectionTest(RED, (req.body ?? {}) as TestRequest) }));
    });

    RED.httpAdmin.post("/resilient-platform/destinations", RED.auth.needsPermission("resilient-platform.write"), (req: Request, res: Response) => {
        void respond(RED, res, () => listForDialog(RED, (req.body ?? {}) as DialogValues));
    });

    RED.httpAdmin.get("/resilient-platform/:id/destinations", RED.auth.needsPermission("resilient-platform.read"), (req: Request, res: Response) => {
        void respond(RED, res, () => listForDeployedNode(RED, String(req.params.id)));
    });
}

/** An error that the editor shows as it is, and the HTTP status of the response. */
class EndpointError extends Error {
    public constructor(public readonly status: number, message: string) {
        super(message);
        this.name = "EndpointError";
    }
}

/** Sends the result of `work` as JSON, or its error with a status and `{message}`. */
async function respond(RED: NodeAPI, res: Response, work: () => Promise<unknown>): Promise<void> {
    try {
        res.json(await work());
    } catch (error) {
        if (error instanceof EndpointError) {
            res.status(error.status).json({ message: error.message });
            return;
        }
        if (error instanceof DialogSettingsError) {
            res.status(400).json({ message: error.message });
            return;
        }
        RED.log.warn(RED._("resilient-platform.test.failed", { message: (error as Error).message }));
        res.status(500).json({ message: RED._("resilient-platform.test.failed", { message: (error as Error).message }) });
    }
}

// ---------------------------------------------------------------------------
// Connection test

/** Runs every step that can run and returns their outcomes, with secrets removed from every message. */
async function runConnectionTest(RED: NodeAPI, request: TestRequest): Promise<TestStep[]> {
    let settings: DialogSettings;
    try {
        settings = readDialogSettings(RED, request);
    } catch (error) {
        if (error instanceof DialogSettingsError) {
            return [failed(RED, "settings", error.message)];
        }
        throw error;
    }

    const steps: TestStep[] = [];
    try {
        await runSteps(RED, settings, request, steps);
    } catch (error) {
        // Only a bug gets here: every expected failure is a step of its own.
        RED.log.warn(RED._("resilient-platform.test.failed", { message: (error as Error).message }));
        steps.push(failed(RED, "test", RED._("resilient-platform.test.failed", { message: (error as Error).message })));
    }
    const failures = steps.filter((step) => !step.ok && !step.skipped).map((step) => step.name);
    RED.log.debug(RED._("resilient-platform.test.logged", { host: settings.host, failures: failures.length > 0 ? failures.join(", ") : "-" }));
    return steps.map((step) => ({ ...step, message: redactSecrets(step.message, settings.secrets) }));
}

async function runSteps(RED: NodeAPI, settings: DialogSettings, request: TestRequest, steps: TestStep[]): Promise<void> {
    const destination = String(request.destination ?? "").trim();
    if (destination && !PROGRAMMATIC_NAME.test(destination)) {
        steps.push(failed(RED, "destination", RED._("resilient-platform.test.invalid-destination", { value: destination })));
        return;
    }

    const [restTls, stompTls] = await checkTls(RED, settings, steps);

    let session: SessionInfo | undefined;
    let client: RestClient | undefined;
    if (restTls) {
        client = createTestClient(settings);
        session = await checkRestLogin(RED, settings, client, steps);
    } else {
        steps.push(skipped(RED, "rest", RED._("resilient-platform.test.skipped-tls")));
    }

    try {
        const orgId = await checkOrg(RED, settings, session, steps);
        let destinationType: "queue" | "topic" = request.destinationType === "topic" ? "topic" : "queue";
        if (destination && client && session && orgId !== undefined) {
            destinationType = (await checkDestination(RED, client, orgId, destination, steps)) ?? destinationType;
        }

        if (!stompTls) {
            steps.push(skipped(RED, "stomp", RED._("resilient-platform.test.skipped-tls")));
            return;
        }
        let read: ReadTarget;
        if (!destination) {
            read = { skip: RED._("resilient-platform.test.no-destination") };
        } else if (orgId === undefined) {
            read = { skip: RED._("resilient-platform.test.skipped-org") };
        } else {
            read = { destination: `/${destinationType}/actions.${orgId}.${destination}` };
        }
        await checkStomp(RED, settings, steps, read);
    } finally {
        await client?.close(1000);
    }
}

/**
 * Runs the TLS handshakes of the REST and STOMP ports (one when they are
 * equal) and returns, per port, whether credentials may be sent there.
 */
async function checkTls(RED: NodeAPI, settings: DialogSettings, steps: TestStep[]): Promise<[boolean, boolean]> {
    const tlsOptions = settings.tls;
    if (!tlsOptions) {
        const step: TestStep = { ...passed(RED, "tls-rest", RED._("resilient-platform.test.tls-off")), warning: true };
        step.label = RED._("resilient-platform.test.step.tls");
        steps.push(step);
        return [true, true];
    }
    const ports = settings.restPort === settings.stompPort ? [settings.restPort] : [settings.restPort, settings.stompPort];
    const outcomes = await Promise.all(
        ports.map((port) => probeTls(settings.host, port, tlsOptions, TLS_TIMEOUT_MS).then(
            (result) => ({ result, error: undefined }),
            (error: Error) => ({ result: undefined, error }),
        )),
    );
    const usable: boolean[] = [];
    ports.forEach((port, index) => {
        const name: StepName = index === 0 ? "tls-rest" : "tls-stomp";
        const { result, error } = outcomes[index];
        const step = result
            ? describeCertificate(RED, name, port, result, tlsOptions.rejectUnauthorized !== false)
            : failed(RED, name, RED._("resilient-platform.test.tls-unreachable", { address: `${settings.host}:${port}`, message: clause(error?.message ?? "") }));
        const labelKey = ports.length === 1 ? "tls-port" : name;
        step.label = RED._(`resilient-platform.test.step.${labelKey}`, { port: String(port) });
        steps.push(step);
        usable.push(step.ok);
    });
    return [usable[0], usable[usable.length - 1]];
}

function describeCertificate(RED: NodeAPI, name: StepName, port: number, result: TlsProbeResult, verify: boolean): TestStep {
    const certificate = result.certificate;
    const details = certificate
        ? RED._("resilient-platform.test.certificate", {
              subject: certificate.subject,
              issuer: certificate.issuer,
              expiry: certificate.validTo,
              days: String(certificate.daysLeft),
          })
        : RED._("resilient-platform.test.no-certificate");
    if (result.verified) {
        const step = passed(RED, name, RED._("resilient-platform.test.tls-verified", { protocol: result.protocol ?? "TLS", details }));
        if (certificate && certificate.daysLeft < EXPIRY_WARNING_DAYS) {
            step.message += " " + RED._("resilient-platform.test.expires-soon", { days: String(certificate.daysLeft) });
            step.warning = true;
        }
        return step;
    }
    const problem = classifyCertificateError(result.reasonCode);
    const advice = problem ? " " + RED._(`resilient-platform.test.advice.${problem}`) : "";
    const reason = RED._("resilient-platform.test.tls-not-verified", { code: result.reasonCode ?? "", details, port: String(port) }) + advice;
    if (!verify) {
        return { ...passed(RED, name, `${reason} ${RED._("resilient-platform.test.verification-off")}`), warning: true };
    }
    return failed(RED, name, reason);
}

function createTestClient(settings: DialogSettings): RestClient {
    return new RestClient({
        host: settings.host,
        port: settings.restPort,
        org: settings.org,
        auth: settings.auth,
        tls: settings.tls ?? false,
        timeouts: { connectMs: REST_CONNECT_TIMEOUT_MS, requestMs: REST_REQUEST_TIMEOUT_MS },
        retries: { max: 0 },
        userAgent: `${packageInfo.name}/${packageInfo.version}`,
    });
}

async function checkRestLogin(RED: NodeAPI, settings: DialogSettings, client: RestClient, steps: TestStep[]): Promise<SessionInfo | undefined> {
    try {
        const session = await client.session();
        const account = settings.auth.kind === "apikey" ? RED._("resilient-platform.test.as-apikey", { id: settings.auth.id }) : settings.auth.email;
        steps.push(passed(RED, "rest", RED._("resilient-platform.test.rest-ok", { origin: client.origin, account, count: String(session.orgs.length) })));
        return session;
    } catch (error) {
        steps.push(failed(RED, "rest", RED._("resilient-platform.test.rest-failed", { origin: client.origin, message: (error as Error).message })));
        return undefined;
    }
}

/** Resolves the org through the session. A numeric org still serves the broker check when REST failed. */
async function checkOrg(RED: NodeAPI, settings: DialogSettings, session: SessionInfo | undefined, steps: TestStep[]): Promise<number | undefined> {
    const numeric = /^\d+$/.test(settings.org) ? Number(settings.org) : undefined;
    if (!session) {
        const key = numeric === undefined ? "resilient-platform.test.org-unresolved" : "resilient-platform.test.org-unchecked";
        steps.push(skipped(RED, "org", RED._(key, { org: settings.org })));
        return numeric;
    }
    try {
        const orgId = resolveOrg(settings.org, session);
        const org = session.orgs.find((entry) => entry.id === orgId);
        steps.push(passed(RED, "org", RED._("resilient-platform.test.org-ok", { name: org?.name ?? "", id: String(orgId) })));
        return orgId;
    } catch (error) {
        if (error instanceof OrgResolutionError) {
            steps.push(failed(RED, "org", error.message));
            return undefined;
        }
        throw error;
    }
}

/**
 * Looks the destination up in the org's list and returns its type. A
 * listing the account may not read is a warning: read access is what
 * the broker check tests.
 */
async function checkDestination(
    RED: NodeAPI,
    client: RestClient,
    orgId: number,
    programmaticName: string,
    steps: TestStep[],
): Promise<"queue" | "topic" | undefined> {
    let destinations: DestinationSummary[];
    try {
        destinations = await fetchDestinations(client);
    } catch (error) {
        steps.push({ ...passed(RED, "destination", RED._("resilient-platform.test.destination-unlisted", { message: clause((error as Error).message) })), warning: true });
        return undefined;
    }
    const found = destinations.find((entry) => entry.programmaticName === programmaticName);
    if (!found) {
        const names = destinations.slice(0, MAX_LISTED_DESTINATIONS).map((entry) => `${entry.programmaticName} (${entry.type})`);
        const key = names.length > 0 ? "resilient-platform.test.destination-missing" : "resilient-platform.test.destination-none";
        steps.push(failed(RED, "destination", RED._(key, { name: programmaticName, org: String(orgId), names: names.join(", ") })));
        return undefined;
    }
    const reply = RED._(found.expectAck ? "resilient-platform.test.expects-reply" : "resilient-platform.test.expects-no-reply");
    steps.push(passed(RED, "destination", RED._("resilient-platform.test.destination-ok", { title: found.name, name: found.programmaticName, type: found.type, reply })));
    return found.type;
}

/** The broker destination whose read access to check, or why that check does not run. */
type ReadTarget = { destination: string } | { skip: string };

async function checkStomp(RED: NodeAPI, settings: DialogSettings, steps: TestStep[], read: ReadTarget): Promise<void> {
    const address = `${settings.tls ? "stomp+ssl" : "stomp"}://${settings.host}:${settings.stompPort}`;
    let probe: StompProbe;
    try {
        probe = await StompProbe.connect({
            host: settings.host,
            port: settings.stompPort,
            tls: settings.tls,
            login: settings.auth.kind === "apikey" ? settings.auth.id : settings.auth.email,
            passcode: settings.auth.kind === "apikey" ? settings.auth.secret : settings.auth.password,
            timeoutMs: STOMP_TIMEOUT_MS,
        });
    } catch (error) {
        const loginRejected = error instanceof StompProbeError && error.kind === "rejected";
        const key = loginRejected ? `resilient-platform.test.stomp-rejected-${settings.auth.kind}` : "resilient-platform.test.stomp-unreachable";
        steps.push(failed(RED, "stomp", RED._(key, { address, message: clause((error as Error).message) })));
        steps.push(skipped(RED, "read", RED._("resilient-platform.test.skipped-stomp")));
        return;
    }

    try {
        steps.push(passed(RED, "stomp", RED._("resilient-platform.test.stomp-ok", { address, version: probe.version ?? "?", server: probe.server ?? "?" })));
        if ("skip" in read) {
            steps.push(skipped(RED, "read", read.skip));
            return;
        }
        const check = await probe.checkRead(read.destination, SUBSCRIBE_TIMEOUT_MS);
        if (check.allowed) {
            steps.push(passed(RED, "read", RED._("resilient-platform.test.read-ok", { destination: read.destination })));
        } else {
            const key = check.timedOut ? "resilient-platform.test.read-timeout" : "resilient-platform.test.read-rejected";
            steps.push(failed(RED, "read", RED._(key, { destination: read.destination, message: clause(check.message) })));
        }
    } finally {
        await probe.close();
    }
}

// ---------------------------------------------------------------------------
// Destination lists

async function listForDialog(RED: NodeAPI, values: DialogValues): Promise<DestinationList> {
    const settings = readDialogSettings(RED, values);
    const client = createTestClient(settings);
    try {
        return await listDestinations(RED, client, settings.secrets);
    } finally {
        await client.close(1000);
    }
}

async function listForDeployedNode(RED: NodeAPI, id: string): Promise<DestinationList> {
    const platform = RED.nodes.getNode(id) as PlatformNode | null;
    if (!platform || typeof platform.restClient !== "function") {
        throw new EndpointError(404, RED._("resilient-platform.test.not-deployed", { id }));
    }
    let client: RestClient;
    try {
        client = platform.restClient();
    } catch (error) {
        throw new EndpointError(400, (error as Error).message);
    }
    // The listing runs on the deployed node's shared connections, which the flows use too. Callers that
    // arrive while one is running share it, so repeated clicks cannot pile requests onto a slow platform.
    let listing = deployedListings.get(id);
    if (!listing) {
        listing = listDestinations(RED, client, []);
        deployedListings.set(id, listing);
        const forget = () => deployedListings.delete(id);
        listing.then(forget, forget);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
            () => reject(new EndpointError(504, RED._("resilient-platform.test.list-timeout", { seconds: String(DEPLOYED_LIST_TIMEOUT_MS / 1000) }))),
            DEPLOYED_LIST_TIMEOUT_MS,
        );
    });
    try {
        return await Promise.race([listing, timeout]);
    } finally {
        clearTimeout(timer);
    }
}

/** Destination listings running on deployed platform nodes, by node id. */
const deployedListings = new Map<string, Promise<DestinationList>>();

async function listDestinations(RED: NodeAPI, client: RestClient, secrets: string[]): Promise<DestinationList> {
    try {
        const [orgId, session] = await Promise.all([client.orgId(), client.session()]);
        const destinations = await fetchDestinations(client);
        return { orgId, orgName: session.orgs.find((org) => org.id === orgId)?.name, destinations };
    } catch (error) {
        const message = RED._("resilient-platform.test.list-failed", { message: (error as Error).message });
        throw new EndpointError(502, redactSecrets(message, secrets));
    }
}

/** Reads `GET /rest/orgs/<org_id>/message_destinations` and skips entries without a usable programmatic name. */
async function fetchDestinations(client: RestClient): Promise<DestinationSummary[]> {
    const response = await client.request<{ entities?: unknown }>({ method: "GET", path: "/message_destinations" });
    const entities = Array.isArray(response.body?.entities) ? (response.body.entities as Array<Record<string, unknown>>) : [];
    const destinations: DestinationSummary[] = [];
    for (const entity of entities) {
        const programmaticName = entity?.programmatic_name;
        if (typeof programmaticName !== "string" || !PROGRAMMATIC_NAME.test(programmaticName)) {
            continue;
        }
        destinations.push({
            programmaticName,
            name: typeof entity.name === "string" ? entity.name : programmaticName,
            type: entity.destination_type === 1 ? "topic" : "queue",
            expectAck: entity.expect_ack === true,
        });
    }
    return destinations.sort(compareProgrammaticNames);
}

/** Orders by UTF-16 code units, so that the list does not depend on the server's locale. */
function compareProgrammaticNames(a: DestinationSummary, b: DestinationSummary): number {
    if (a.programmaticName === b.programmaticName) {
        return 0;
    }
    return a.programmaticName < b.programmaticName ? -1 : 1;
}

// ---------------------------------------------------------------------------
// Step records

/** Removes a final period from a message of the broker or of Node, so that a template can continue the sentence. */
function clause(text: string): string {
    return text.trim().replace(/\.+$/, "");
}

function passed(RED: NodeAPI, name: StepName, message: string): TestStep {
    return { name, label: RED._(`resilient-platform.test.step.${name}`), ok: true, message };
}

function failed(RED: NodeAPI, name: StepName, message: string): TestStep {
    return { name, label: RED._(`resilient-platform.test.step.${name}`), ok: false, message };
}

function skipped(RED: NodeAPI, name: StepName, message: string): TestStep {
    return { name, label: RED._(`resilient-platform.test.step.${name}`), ok: false, message, skipped: true };
}

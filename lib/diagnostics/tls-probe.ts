import * as net from "node:net";
import * as tls from "node:tls";

/** The parts of a server certificate that a user compares with the platform's. */
export interface CertificateSummary {
    subject: string;
    issuer: string;
    /** Subject alternative names as Node prints them, e.g. `DNS:localhost, IP Address:127.0.0.1`. */
    subjectAltName: string | undefined;
    /** Expiry as an ISO 8601 date. */
    validTo: string;
    /** Whole days until expiry, negative once expired. */
    daysLeft: number;
    fingerprint256: string;
}

/** Outcome of one TLS handshake. */
export interface TlsProbeResult {
    /** True when the chain, expiry and host name were verified. */
    verified: boolean;
    /** OpenSSL or Node error code when not verified, e.g. `SELF_SIGNED_CERT_IN_CHAIN`. */
    reasonCode: string | undefined;
    certificate: CertificateSummary | undefined;
    /** Negotiated protocol, e.g. `TLSv1.3`. */
    protocol: string | undefined;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Opens a TLS connection, reads the server certificate and closes it again
 * without writing a byte. The handshake runs with `rejectUnauthorized: false`
 * so that an untrusted certificate can still be described. Node's own check
 * of chain, expiry and host name fills `verified` and `reasonCode`. Rejects
 * when no handshake completes within `timeoutMs` (refused, reset, not TLS).
 */
export function probeTls(host: string, port: number, options: tls.ConnectionOptions, timeoutMs: number): Promise<TlsProbeResult> {
    return new Promise<TlsProbeResult>((resolve, reject) => {
        const socket = tls.connect({
            // SNI must not carry an IP address (RFC 6066), but the host name check still applies.
            servername: net.isIP(host) ? undefined : host,
            ...options,
            host,
            port,
            rejectUnauthorized: false,
        });
        const timer = setTimeout(() => {
            socket.destroy();
            reject(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs} ms`));
        }, timeoutMs);

        socket.once("secureConnect", () => {
            clearTimeout(timer);
            const peer = socket.getPeerCertificate();
            const result: TlsProbeResult = {
                verified: socket.authorized,
                reasonCode: socket.authorized ? undefined : errorCode(socket.authorizationError),
                certificate: peer && Object.keys(peer).length > 0 ? summarize(peer) : undefined,
                protocol: socket.getProtocol() ?? undefined,
            };
            socket.destroy();
            resolve(result);
        });
        socket.once("error", (error: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            socket.destroy();
            reject(error);
        });
    });
}

function errorCode(error: Error | string | null | undefined): string {
    if (!error) {
        return "UNKNOWN";
    }
    if (typeof error === "string") {
        return error;
    }
    return (error as NodeJS.ErrnoException).code ?? error.message;
}

function summarize(peer: tls.PeerCertificate): CertificateSummary {
    const validTo = new Date(peer.valid_to);
    return {
        subject: formatName(peer.subject),
        issuer: formatName(peer.issuer),
        subjectAltName: peer.subjectaltname || undefined,
        validTo: Number.isNaN(validTo.getTime()) ? peer.valid_to : validTo.toISOString().slice(0, 10),
        daysLeft: Math.floor((validTo.getTime() - Date.now()) / DAY_MS),
        fingerprint256: peer.fingerprint256,
    };
}

/** Formats a certificate name as `CN=localhost, O=Example`, most specific part first. */
function formatName(name: tls.Certificate | undefined): string {
    if (!name) {
        return "";
    }
    const order = ["CN", "OU", "O", "L", "ST", "C"];
    const keys = Object.keys(name).sort((a, b) => rank(order, a) - rank(order, b));
    return keys.map((key) => `${key}=${String((name as unknown as Record<string, string | string[]>)[key])}`).join(", ");
}

function rank(order: string[], key: string): number {
    const index = order.indexOf(key);
    return index === -1 ? order.length : index;
}

/** Kinds of certificate check failure that a user can fix in different ways. */
export type CertificateProblem = "untrusted" | "expired" | "not-yet-valid" | "wrong-host";

/** Classifies a certificate check failure by the codes that OpenSSL and Node report. Other codes return undefined. */
export function classifyCertificateError(code: string | undefined): CertificateProblem | undefined {
    switch (code) {
        case "SELF_SIGNED_CERT_IN_CHAIN":
        case "DEPTH_ZERO_SELF_SIGNED_CERT":
        case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
        case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
        case "UNABLE_TO_GET_ISSUER_CERT":
            return "untrusted";
        case "CERT_HAS_EXPIRED":
            return "expired";
        case "CERT_NOT_YET_VALID":
            return "not-yet-valid";
        case "ERR_TLS_CERT_ALTNAME_INVALID":
            return "wrong-host";
        default:
            return undefined;
    }
}

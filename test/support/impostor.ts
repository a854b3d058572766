import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";

/** A TLS server with a self-signed certificate for localhost that records every byte a client sends after the handshake. */
export interface Impostor {
    port: number;
    handshakes: number;
    received: Buffer[];
    close(): Promise<void>;
}

/**
 * Starts a server that pretends to be the broker with a certificate no test
 * CA signed. A correct client aborts the handshake and sends it nothing.
 */
export async function startImpostor(): Promise<Impostor> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "resilient-impostor-"));
    const key = path.join(dir, "key.pem");
    const cert = path.join(dir, "cert.pem");
    execFileSync("openssl", [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", key, "-out", cert,
    ], { stdio: "ignore" });

    const impostor: Impostor = { port: 0, handshakes: 0, received: [], close: async () => undefined };
    const server = tls.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (socket) => {
        socket.on("data", (chunk: Buffer) => impostor.received.push(chunk));
        socket.on("error", () => socket.destroy());
    });
    server.on("tlsClientError", () => {
        impostor.handshakes += 1;
    });
    server.on("secureConnection", () => {
        impostor.handshakes += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    impostor.port = (server.address() as { port: number }).port;
    impostor.close = async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        fs.rmSync(dir, { recursive: true, force: true });
    };
    return impostor;
}

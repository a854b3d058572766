/**
 * Private Apache ActiveMQ Classic broker for tests, the demo and benchmarks.
 *
 * It runs Debian's `activemq` package (5.17) as a child Java process with its
 * own data folder: a persistent KahaDB store, a test CA and TLS keystore, and
 * random passcodes for three users. The broker listens only on 127.0.0.1,
 * with one STOMP and one STOMP+SSL connector, and has no web console and no
 * JMX connector.
 *
 * Usage from the command line:
 *   node dist/scripts/broker.js start [--data DIR] [--stomp-port N] [--stomp-ssl-port N]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { pathToFileURL } from "node:url";

export interface BrokerUser {
    login: string;
    passcode: string;
}

/** Connection details of a running broker, as plain JSON-able data. */
export interface BrokerDescription {
    host: "127.0.0.1";
    stompPort: number;
    stompSslPort: number;
    dataDir: string;
    /** PEM file of the test CA that signed the broker's certificate (CN localhost, SAN localhost and 127.0.0.1). */
    caFile: string;
    /** PEM file of a second CA that did not sign the broker's certificate. */
    untrustedCaFile: string;
    /**
     * CA file for a certificate with a wrong host name. This broker does not
     * generate one: to test host-name checks, connect with a `servername`
     * that its certificate does not list.
     */
    wrongHostCaFile?: string;
    users: {
        /** The platform itself: read, write and admin on every destination. */
        platform: BrokerUser;
        /** An action processor: reads `actions.>` and writes `acks.>`. */
        processor: BrokerUser;
        /** A user that may log in and write `acks.>` but may not read `actions.>`. */
        outsider: BrokerUser;
    };
    pid: number;
}

export interface Broker extends BrokerDescription {
    describe(): BrokerDescription;
    /** Stops the broker with SIGTERM, and with SIGKILL if it has not exited after 10 s. */
    stop(): Promise<void>;
    /** Kills the broker with SIGKILL to simulate a crash, and waits for it to exit. */
    kill(): Promise<void>;
    /** Starts the broker again on the same ports and data folder, and waits until it accepts a STOMP CONNECT. */
    restart(): Promise<void>;
}

export interface StartBrokerOptions {
    /** Data folder; created if missing. Default: `.broker/default` under the repository root. */
    dataDir?: string;
    /** STOMP port on 127.0.0.1. Default: a free port. */
    stompPort?: number;
    /** STOMP+SSL port on 127.0.0.1. Default: a free port. */
    stompSslPort?: number;
    /** Receives every line the broker prints. Default: lines are kept only for error messages. */
    log?: (line: string) => void;
}

const HOST = "127.0.0.1";
const ACTIVEMQ_HOME = "/usr/share/activemq";
const ACTIVEMQ_JAR = path.join(ACTIVEMQ_HOME, "bin", "activemq.jar");
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 5_000;
const LOG_TAIL_LINES = 40;

/** Random secrets of one data folder, stored in `credentials.json` there. */
interface Credentials {
    users: BrokerDescription["users"];
    keyStorePassword: string;
}

/** Files under the data folder. */
interface BrokerFiles {
    dataDir: string;
    confDir: string;
    configFile: string;
    log4jFile: string;
    pidFile: string;
    credentialsFile: string;
    tlsDir: string;
    caFile: string;
    caKeyFile: string;
    serverCertFile: string;
    serverKeyFile: string;
    keyStoreFile: string;
    untrustedCaFile: string;
    untrustedCaKeyFile: string;
}

function brokerFiles(dataDir: string): BrokerFiles {
    const confDir = path.join(dataDir, "conf");
    const tlsDir = path.join(dataDir, "tls");
    return {
        dataDir,
        confDir,
        configFile: path.join(confDir, "activemq.xml"),
        log4jFile: path.join(confDir, "log4j.properties"),
        pidFile: path.join(dataDir, "broker.pid"),
        credentialsFile: path.join(dataDir, "credentials.json"),
        tlsDir,
        caFile: path.join(tlsDir, "ca.pem"),
        caKeyFile: path.join(tlsDir, "ca.key"),
        serverCertFile: path.join(tlsDir, "server.pem"),
        serverKeyFile: path.join(tlsDir, "server.key"),
        keyStoreFile: path.join(tlsDir, "broker.p12"),
        untrustedCaFile: path.join(tlsDir, "untrusted-ca.pem"),
        untrustedCaKeyFile: path.join(tlsDir, "untrusted-ca.key"),
    };
}

/** Returns the folder above this file that contains package.json. */
function findRepositoryRoot(): string {
    let dir = __dirname;
    while (!fs.existsSync(path.join(dir, "package.json"))) {
        const parent = path.dirname(dir);
        if (parent === dir) {
            return process.cwd();
        }
        dir = parent;
    }
    return dir;
}

// ---------------------------------------------------------------------------
// Installation check

/**
 * Installs Debian's activemq package when it is missing and this process is
 * root, or throws an error that names the package to install.
 */
function ensureActiveMqInstalled(): void {
    if (fs.existsSync(ACTIVEMQ_JAR)) {
        return;
    }
    const command = "apt-get update && apt-get install -y activemq";
    if (process.getuid?.() !== 0) {
        throw new Error(
            `ActiveMQ is not installed (${ACTIVEMQ_JAR} is missing). ` +
                `Install Debian's activemq package as root: ${command}`,
        );
    }

    // NOTE: this install path has not been run yet, because every machine it was tested on had activemq.
    process.stderr.write(`ActiveMQ is not installed (${ACTIVEMQ_JAR} is missing). Running: ${command}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    // The child's stdout goes to our stderr so that stdout stays free for the CLI's JSON.
    for (const args of [["update"], ["install", "-y", "activemq"]]) {
        const result = spawnSync("apt-get", args, { stdio: ["ignore", 2, 2], env });
        if (result.status !== 0) {
            throw new Error(`apt-get ${args.join(" ")} failed (exit status ${result.status}). Run "${command}" by hand.`);
        }
    }
    if (!fs.existsSync(ACTIVEMQ_JAR)) {
        throw new Error(`apt-get installed activemq, but ${ACTIVEMQ_JAR} is still missing.`);
    }
}

/** Returns `$JAVA_HOME/bin/java` when JAVA_HOME is set, else the first `java` on PATH. */
function findJava(): string {
    const candidates = process.env.JAVA_HOME
        ? [path.join(process.env.JAVA_HOME, "bin", "java")]
        : (process.env.PATH ?? "").split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, "java"));
    for (const candidate of candidates) {
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return candidate;
        } catch {
            // Not executable here; try the next candidate.
        }
    }
    if (process.env.JAVA_HOME) {
        throw new Error(`${candidates[0]} was not found. Point JAVA_HOME at a Java runtime, or unset it to use java from PATH.`);
    }
    throw new Error("java was not found on PATH. Install a Java runtime: apt-get install -y default-jre-headless");
}

// ---------------------------------------------------------------------------
// Secrets and certificates

function randomSecret(): string {
    // base64url has only letters, digits, "-" and "_", so it needs no escaping in XML or STOMP headers.
    return randomBytes(18).toString("base64url");
}

/** Reads the data folder's passcodes, or creates them on first use. */
function loadOrCreateCredentials(files: BrokerFiles): Credentials {
    if (fs.existsSync(files.credentialsFile)) {
        return JSON.parse(fs.readFileSync(files.credentialsFile, "utf8")) as Credentials;
    }
    const credentials: Credentials = {
        users: {
            platform: { login: "platform", passcode: randomSecret() },
            processor: { login: "processor", passcode: randomSecret() },
            outsider: { login: "outsider", passcode: randomSecret() },
        },
        keyStorePassword: randomSecret(),
    };
    fs.writeFileSync(files.credentialsFile, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600 });
    return credentials;
}

function openssl(args: string[], env?: NodeJS.ProcessEnv): void {
    try {
        execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
    } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
            throw new Error("openssl was not found on PATH. Install it: apt-get install -y openssl");
        }
        const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? "";
        throw new Error(`openssl ${args[0]} failed: ${stderr || (error as Error).message}`);
    }
}

/** Returns true when the certificate exists and stays valid for at least another day. */
function isCertificateUsable(certFile: string): boolean {
    if (!fs.existsSync(certFile)) {
        return false;
    }
    const result = spawnSync("openssl", ["x509", "-noout", "-checkend", "86400", "-in", certFile], { stdio: "ignore" });
    return result.status === 0;
}

function createCa(certFile: string, keyFile: string, commonName: string): void {
    openssl([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
        "-subj", `/O=node-red-resilient tests/CN=${commonName}`,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", keyFile, "-out", certFile,
    ]);
}

/**
 * Creates the test CA, the broker's certificate and an unrelated second CA,
 * unless the folder already has them with more than a day of validity left.
 * Rebuilds the PKCS12 keystore every time, so it always matches the stored
 * keystore password.
 */
function ensureCertificates(files: BrokerFiles, keyStorePassword: string): void {
    fs.mkdirSync(files.tlsDir, { recursive: true, mode: 0o700 });

    const haveAll =
        isCertificateUsable(files.caFile) &&
        isCertificateUsable(files.serverCertFile) &&
        isCertificateUsable(files.untrustedCaFile) &&
        fs.existsSync(files.serverKeyFile);
    if (!haveAll) {
        createCa(files.caFile, files.caKeyFile, "Broker test CA");
        createCa(files.untrustedCaFile, files.untrustedCaKeyFile, "Untrusted test CA");

        const requestFile = path.join(files.tlsDir, "server.csr");
        const extensionsFile = path.join(files.tlsDir, "server.ext");
        fs.writeFileSync(
            extensionsFile,
            [
                "basicConstraints = critical, CA:FALSE",
                "keyUsage = critical, digitalSignature, keyEncipherment",
                "extendedKeyUsage = serverAuth",
                "subjectAltName = DNS:localhost, IP:127.0.0.1",
                "",
            ].join("\n"),
        );
        openssl([
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-subj", "/O=node-red-resilient tests/CN=localhost",
            "-keyout", files.serverKeyFile, "-out", requestFile,
        ]);
        openssl([
            "x509", "-req", "-sha256", "-days", "825", "-set_serial", `0x${randomBytes(8).toString("hex")}`,
            "-in", requestFile, "-CA", files.caFile, "-CAkey", files.caKeyFile,
            "-extfile", extensionsFile, "-out", files.serverCertFile,
        ]);
        fs.rmSync(requestFile);
        fs.rmSync(extensionsFile);
    }

    // The password travels in the environment so that it does not show in `ps`.
    openssl(
        [
            "pkcs12", "-export", "-name", "broker",
            "-in", files.serverCertFile, "-inkey", files.serverKeyFile, "-certfile", files.caFile,
            "-out", files.keyStoreFile, "-passout", "env:BROKER_KEYSTORE_PASSWORD",
        ],
        { BROKER_KEYSTORE_PASSWORD: keyStorePassword },
    );
}

// ---------------------------------------------------------------------------
// Broker configuration

function escapeXml(value: string): string {
    return value
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;");
}

/**
 * Returns the broker's activemq.xml.
 *
 * ActiveMQ grants a user the union of all authorization entries whose
 * pattern matches a destination, so the `>` entries give the platform every
 * right, and the narrower entries add rights for the other groups.
 */
function renderBrokerXml(files: BrokerFiles, credentials: Credentials, stompPort: number, stompSslPort: number): string {
    const attr = escapeXml;
    const { platform, processor, outsider } = credentials.users;
    const everyone = "platforms,processors,outsiders";
    const entry = (kind: "queue" | "topic", pattern: string, read: string, write: string, admin: string): string =>
        `            <authorizationEntry ${kind}="${pattern}" read="${read}" write="${write}" admin="${admin}"/>`;

    return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/broker.ts on every start; edits are overwritten. -->
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="resilient-test"
          useJmx="false" persistent="true" schedulerSupport="false" useShutdownHook="true"
          dataDirectory="${attr(path.join(files.dataDir, "activemq"))}">
    <persistenceAdapter>
      <kahaDB directory="${attr(path.join(files.dataDir, "kahadb"))}" journalMaxFileLength="16mb"/>
    </persistenceAdapter>
    <systemUsage>
      <systemUsage>
        <memoryUsage><memoryUsage limit="64 mb"/></memoryUsage>
        <storeUsage><storeUsage limit="1 gb"/></storeUsage>
        <tempUsage><tempUsage limit="256 mb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <sslContext>
      <sslContext keyStore="${attr(files.keyStoreFile)}" keyStoreType="PKCS12"
                  keyStorePassword="${attr(credentials.keyStorePassword)}"/>
    </sslContext>
    <plugins>
      <simpleAuthenticationPlugin anonymousAccessAllowed="false">
        <users>
          <authenticationUser username="${attr(platform.login)}" password="${attr(platform.passcode)}" groups="platforms"/>
          <authenticationUser username="${attr(processor.login)}" password="${attr(processor.passcode)}" groups="processors"/>
          <authenticationUser username="${attr(outsider.login)}" password="${attr(outsider.passcode)}" groups="outsiders"/>
        </users>
      </simpleAuthenticationPlugin>
      <authorizationPlugin>
        <map>
          <authorizationMap>
            <authorizationEntries>
${entry("queue", ">", "platforms", "platforms", "platforms")}
${entry("topic", ">", "platforms", "platforms", "platforms")}
${entry("queue", "actions.>", "processors", "platforms", "processors")}
${entry("topic", "actions.>", "processors", "platforms", "processors")}
${entry("queue", "acks.>", "platforms", "processors,outsiders", "processors,outsiders")}
${entry("topic", "acks.>", "platforms", "processors,outsiders", "processors,outsiders")}
${entry("topic", "ActiveMQ.Advisory.>", everyone, everyone, everyone)}
            </authorizationEntries>
            <tempDestinationAuthorizationEntry>
              <tempDestinationAuthorizationEntry read="${everyone}" write="${everyone}" admin="${everyone}"/>
            </tempDestinationAuthorizationEntry>
          </authorizationMap>
        </map>
      </authorizationPlugin>
    </plugins>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://${HOST}:${stompPort}"/>
      <transportConnector name="stomp+ssl" uri="stomp+ssl://${HOST}:${stompSslPort}"/>
    </transportConnectors>
  </broker>
</beans>
`;
}

/** Returns a log4j 1.2 configuration, the logging backend of Debian's ActiveMQ. */
function renderLog4jProperties(files: BrokerFiles): string {
    const logFile = path.join(files.dataDir, "activemq.log");
    // Backslashes are escapes in .properties files.
    const logFileValue = logFile.replace(/\\/g, "\\\\");
    return [
        "# Generated by scripts/broker.ts on every start; edits are overwritten.",
        "log4j.rootLogger=INFO, console, file",
        "log4j.logger.org.springframework=WARN",
        "log4j.logger.org.apache.xbean=WARN",
        "log4j.appender.console=org.apache.log4j.ConsoleAppender",
        "log4j.appender.console.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.console.layout.ConversionPattern=%-5p %m [%c{1}]%n",
        "log4j.appender.file=org.apache.log4j.RollingFileAppender",
        `log4j.appender.file.File=${logFileValue}`,
        "log4j.appender.file.MaxFileSize=1MB",
        "log4j.appender.file.MaxBackupIndex=1",
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.file.layout.ConversionPattern=%d{ISO8601} %-5p %m [%c] %t%n",
        "",
    ].join("\n");
}

// ---------------------------------------------------------------------------
// Ports and STOMP probe

/** Returns distinct ports that were free on 127.0.0.1 a moment ago. */
async function findFreePorts(count: number): Promise<number[]> {
    const servers: net.Server[] = [];
    try {
        for (let i = 0; i < count; i++) {
            const server = net.createServer();
            servers.push(server);
            await new Promise<void>((resolve, reject) => {
                server.once("error", reject);
                server.listen(0, HOST, () => resolve());
            });
        }
        return servers.map((server) => (server.address() as net.AddressInfo).port);
    } finally {
        await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    }
}

/** Error for a CONNECT that the broker rejected with an ERROR frame; retrying does not help. */
class StompRejectedError extends Error {}

/**
 * Sends a STOMP CONNECT and resolves when the broker replies with a CONNECTED frame.
 * With `ca`, connects over TLS and verifies the certificate against it.
 */
function probeStomp(port: number, user: BrokerUser, ca?: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
        const connectFrame =
            "CONNECT\naccept-version:1.2\nhost:localhost\n" +
            `login:${user.login}\npasscode:${user.passcode}\nheart-beat:0,0\n\n\0`;
        const socket = ca
            ? tls.connect({ host: HOST, port, ca, servername: "localhost" }, () => socket.write(connectFrame))
            : net.connect({ host: HOST, port }, () => socket.write(connectFrame));
        let received = "";

        const finish = (error?: Error): void => {
            socket.destroy();
            if (error) {
                reject(error);
            } else {
                resolve();
            }
        };
        socket.setTimeout(PROBE_TIMEOUT_MS, () => finish(new Error(`STOMP CONNECT to port ${port} timed out.`)));
        socket.on("error", (error) => finish(error));
        socket.on("close", () => finish(new Error(`Port ${port} closed the connection before replying to CONNECT.`)));
        socket.on("data", (chunk: Buffer) => {
            received += chunk.toString("utf8");
            const end = received.indexOf("\0");
            if (end < 0) {
                return;
            }
            const frame = received.slice(0, end).replace(/^\n+/, "");
            if (frame.startsWith("CONNECTED\n")) {
                socket.end("DISCONNECT\n\n\0");
                finish();
            } else {
                const message = /^message:(.*)$/m.exec(frame)?.[1] ?? frame.split("\n")[0];
                finish(new StompRejectedError(`Broker rejected STOMP CONNECT as ${user.login}: ${message}`));
            }
        });
    });
}

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// Broker process

/** Returns the URI that ActiveMQ's `start` command loads the configuration from. */
function configUri(files: BrokerFiles): string {
    // ActiveMQ parses this as a URI, so spaces and other characters in the path must be percent-encoded.
    return `xbean:${pathToFileURL(files.configFile).href}`;
}

/**
 * Throws when a broker from an earlier run still uses this data folder, because
 * it holds the KahaDB lock and a second broker would wait for it.
 */
function throwIfDataFolderInUse(files: BrokerFiles): void {
    if (!fs.existsSync(files.pidFile)) {
        return;
    }
    const pid = Number.parseInt(fs.readFileSync(files.pidFile, "utf8"), 10);
    let commandLine = "";
    try {
        commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
        // No such process: the pid file is left over from a broker that was killed.
    }
    if (commandLine.includes(configUri(files))) {
        throw new Error(
            `Another broker (pid ${pid}) is already running on the data folder ${files.dataDir}. ` +
                `Stop it with "kill ${pid}" or choose another data folder.`,
        );
    }
    fs.rmSync(files.pidFile, { force: true });
}

class ActiveMqBroker implements Broker {
    public readonly host = HOST;
    public readonly caFile: string;
    public readonly untrustedCaFile: string;
    public readonly users: BrokerDescription["users"];

    private child: ChildProcess | undefined;
    private exited: Promise<void> = Promise.resolve();
    private readonly logTail: string[] = [];

    public constructor(
        private readonly javaPath: string,
        private readonly files: BrokerFiles,
        credentials: Credentials,
        public readonly stompPort: number,
        public readonly stompSslPort: number,
        private readonly log: ((line: string) => void) | undefined,
    ) {
        this.caFile = files.caFile;
        this.untrustedCaFile = files.untrustedCaFile;
        this.users = credentials.users;
    }

    public get dataDir(): string {
        return this.files.dataDir;
    }

    /** Process id of the running broker, or 0 when it is not running. */
    public get pid(): number {
        return this.child?.pid ?? 0;
    }

    public describe(): BrokerDescription {
        return {
            host: this.host,
            stompPort: this.stompPort,
            stompSslPort: this.stompSslPort,
            dataDir: this.dataDir,
            caFile: this.caFile,
            untrustedCaFile: this.untrustedCaFile,
            users: JSON.parse(JSON.stringify(this.users)) as BrokerDescription["users"],
            pid: this.pid,
        };
    }

    /** Spawns the Java process and waits until both connectors accept a STOMP CONNECT. */
    public async start(): Promise<void> {
        if (this.child) {
            throw new Error(`The broker is already running (pid ${this.pid}).`);
        }
        throwIfDataFolderInUse(this.files);
        this.logTail.length = 0;

        const child = spawn(...this.commandLine(), {
            cwd: this.files.dataDir,
            stdio: ["ignore", "pipe", "pipe"],
        });
        this.child = child;
        let exitDescription: string | undefined;
        let spawnError: Error | undefined;
        this.exited = new Promise((resolve) => {
            const forget = (): void => {
                if (this.child === child) {
                    this.child = undefined;
                }
                fs.rmSync(this.files.pidFile, { force: true });
                resolve();
            };
            child.once("exit", (code, signal) => {
                exitDescription = signal ? `signal ${signal}` : `exit code ${code}`;
                forget();
            });
            // A process that could not be spawned emits "error" and no "exit".
            child.once("error", (error) => {
                spawnError = error;
                if (child.pid === undefined) {
                    forget();
                }
            });
        });
        this.forwardOutput(child);
        if (child.pid !== undefined) {
            fs.writeFileSync(this.files.pidFile, `${child.pid}\n`);
        }

        const deadline = Date.now() + START_TIMEOUT_MS;
        let lastError: Error | undefined;
        for (;;) {
            if (spawnError) {
                throw new Error(`Starting ${this.javaPath} failed: ${spawnError.message}`);
            }
            if (exitDescription) {
                throw new Error(`The broker exited during startup (${exitDescription}). ${this.describeLog()}`);
            }
            try {
                await probeStomp(this.stompPort, this.users.platform);
                await probeStomp(this.stompSslPort, this.users.platform, fs.readFileSync(this.caFile));
                return;
            } catch (error) {
                lastError = error as Error;
                if (error instanceof StompRejectedError) {
                    await this.kill();
                    throw error;
                }
            }
            if (Date.now() > deadline) {
                await this.kill();
                throw new Error(
                    `The broker did not accept a STOMP CONNECT on 127.0.0.1:${this.stompPort} within ${START_TIMEOUT_MS / 1000} s ` +
                        `(last error: ${lastError.message}). ${this.describeLog()}`,
                );
            }
            await delay(200);
        }
    }

    public async stop(): Promise<void> {
        const child = this.child;
        if (!child) {
            return;
        }
        child.kill("SIGTERM");
        const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS).unref());
        if ((await Promise.race([this.exited, timer])) === "timeout") {
            this.log?.(`The broker (pid ${child.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM; sending SIGKILL.`);
            child.kill("SIGKILL");
            await this.exited;
        }
    }

    public async kill(): Promise<void> {
        this.child?.kill("SIGKILL");
        await this.exited;
    }

    public async restart(): Promise<void> {
        await this.stop();
        await this.start();
    }

    private commandLine(): [string, string[]] {
        const files = this.files;
        const javaArgs = [
            "-Xms32m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            `-Dactivemq.home=${ACTIVEMQ_HOME}`,
            `-Dactivemq.base=${files.dataDir}`,
            `-Dactivemq.conf=${files.confDir}`,
            `-Dactivemq.data=${files.dataDir}`,
            `-Dlog4j.configuration=${pathToFileURL(files.log4jFile).href}`,
            "-jar",
            ACTIVEMQ_JAR,
            "start",
            configUri(files),
        ];
        // setpriv makes the kernel send SIGTERM to the broker when this process
        // dies, so a crashed test run leaves no broker behind. It replaces
        // itself with java, so the child's pid is the broker's pid.
        // NOTE: the kernel sends the signal when the spawning thread exits, so a
        // broker started from a worker thread stops when that worker ends.
        if (fs.existsSync("/usr/bin/setpriv")) {
            return ["/usr/bin/setpriv", ["--pdeathsig", "TERM", "--", this.javaPath, ...javaArgs]];
        }
        return [this.javaPath, javaArgs];
    }

    private describeLog(): string {
        const logFile = path.join(this.files.dataDir, "activemq.log");
        return `Full log: ${logFile}. Last lines of output:\n${this.logTail.join("\n")}`;
    }

    private forwardOutput(child: ChildProcess): void {
        const onLine = (line: string): void => {
            this.logTail.push(line);
            if (this.logTail.length > LOG_TAIL_LINES) {
                this.logTail.shift();
            }
            this.log?.(line);
        };
        for (const stream of [child.stdout, child.stderr]) {
            let pending = "";
            stream?.setEncoding("utf8");
            stream?.on("data", (chunk: string) => {
                pending += chunk;
                const lines = pending.split("\n");
                pending = lines.pop() ?? "";
                lines.forEach(onLine);
            });
        }
    }

}

/**
 * Starts a private ActiveMQ broker and resolves when it accepts a STOMP
 * CONNECT as `platform` on both connectors. Installs Debian's activemq
 * package first when it is missing and this process is root.
 */
export async function startBroker(options: StartBrokerOptions = {}): Promise<Broker> {
    ensureActiveMqInstalled();
    const javaPath = findJava();

    const dataDir = path.resolve(options.dataDir ?? path.join(findRepositoryRoot(), ".broker", "default"));
    const files = brokerFiles(dataDir);
    fs.mkdirSync(files.confDir, { recursive: true });
    throwIfDataFolderInUse(files);

    const credentials = loadOrCreateCredentials(files);
    ensureCertificates(files, credentials.keyStorePassword);

    const missingPorts = [options.stompPort, options.stompSslPort].filter((port) => port === undefined).length;
    const freePorts = await findFreePorts(missingPorts);
    const stompPort = options.stompPort ?? (freePorts.shift() as number);
    const stompSslPort = options.stompSslPort ?? (freePorts.shift() as number);

    fs.writeFileSync(files.configFile, renderBrokerXml(files, credentials, stompPort, stompSslPort), { mode: 0o600 });
    fs.writeFileSync(files.log4jFile, renderLog4jProperties(files));

    const broker = new ActiveMqBroker(javaPath, files, credentials, stompPort, stompSslPort, options.log);
    await broker.start();
    return broker;
}

// ---------------------------------------------------------------------------
// Command line

const USAGE = `Usage: node dist/scripts/broker.js start [--data DIR] [--stomp-port N] [--stomp-ssl-port N]

Starts a private ActiveMQ broker in the foreground, prints its description
(ports, CA files, users and passcodes) as JSON on stdout and the broker's log
on stderr, and stops it on SIGINT or SIGTERM.

  --data DIR            data folder (default: .broker/default in the repository)
  --stomp-port N        STOMP port on 127.0.0.1 (default: a free port)
  --stomp-ssl-port N    STOMP+SSL port on 127.0.0.1 (default: a free port)
`;

function parsePort(value: string | undefined, option: string): number {
    const port = Number(value);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`Invalid ${option} value "${value ?? ""}": expected a port number from 1 to 65535.`);
    }
    return port;
}

async function main(args: string[]): Promise<void> {
    if (args[0] !== "start") {
        process.stderr.write(USAGE);
        process.exitCode = args[0] === "--help" || args[0] === "-h" ? 0 : 2;
        return;
    }

    const options: StartBrokerOptions = { log: (line) => process.stderr.write(line + "\n") };
    for (let i = 1; i < args.length; i += 2) {
        const value = args[i + 1];
        switch (args[i]) {
            case "--data":
                if (value === undefined) {
                    throw new Error("Missing value for --data.");
                }
                options.dataDir = value;
                break;
            case "--stomp-port":
                options.stompPort = parsePort(value, "--stomp-port");
                break;
            case "--stomp-ssl-port":
                options.stompSslPort = parsePort(value, "--stomp-ssl-port");
                break;
            default:
                throw new Error(`Unknown option "${args[i]}".\n${USAGE}`);
        }
    }

    const broker = await startBroker(options);
    process.stdout.write(JSON.stringify(broker.describe(), null, 2) + "\n");

    const stopOnSignal = (signal: NodeJS.Signals): void => {
        process.stderr.write(`Received ${signal}; stopping the broker (pid ${broker.pid}).\n`);
        broker.stop().then(
            () => process.exit(0),
            (error: Error) => {
                process.stderr.write(`Stopping the broker failed: ${error.message}\n`);
                process.exit(1);
            },
        );
    };
    process.once("SIGINT", stopOnSignal);
    process.once("SIGTERM", stopOnSignal);

    // The event loop empties only when the broker process has gone without a signal to this one.
    process.once("beforeExit", () => {
        process.stderr.write("The broker exited unexpectedly; see the log lines above.\n");
        process.exit(1);
    });
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((error: Error) => {
        process.stderr.write(`${error.message}\n`);
        process.exit(1);
    });
}

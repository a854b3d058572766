import { createHmac, randomBytes } from "node:crypto";

/** Claims the simulator stores for each context token it issued. */
export interface ContextTokenClaims {
    /** Invocation whose message carried the token. */
    invocationId: number;
    /** Rules named in the token; a REST change made with the token does not fire them again. */
    ruleIds: number[];
    /** Expiry in epoch milliseconds, as in the token's `expirationDate`. */
    expiresAt: number;
}

const HEADER = base64url(JSON.stringify({ alg: "HS256" }));

/** How long a token stays valid; the platform's tokens expire about 24 h after the message. */
export const CONTEXT_TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;

/**
 * Issues and recognizes `Co3ContextToken` values.
 *
 * A token looks like the platform's HS256 JWT. For a rule the payload is
 * `{"actions":[<rule id>],"expirationDate":<ms>}`, for a function the JSON
 * literal `null`, as in captured messages. The signature also covers the
 * invocation id, so every token is unique even when the payloads are equal,
 * and the issuer finds the invocation again by looking the token up.
 * Tokens issued by another simulator instance are not recognized.
 */
export class ContextTokenIssuer {
    private readonly secret = randomBytes(32);
    private readonly issued = new Map<string, ContextTokenClaims>();

    /** Creates the token for one invocation and remembers its claims. */
    public issue(invocationId: number, ruleIds: number[], now = Date.now()): string {
        const expiresAt = now + CONTEXT_TOKEN_LIFETIME_MS;
        const claims = ruleIds.length > 0 ? { actions: ruleIds, expirationDate: expiresAt } : null;
        const payload = base64url(JSON.stringify(claims));
        const signature = createHmac("sha256", this.secret)
            .update(`${HEADER}.${payload}.${invocationId}`)
            .digest("base64url");
        const token = `${HEADER}.${payload}.${signature}`;
        this.issued.set(token, { invocationId, ruleIds: [...ruleIds], expiresAt });
        return token;
    }

    /** Returns the claims of a token this issuer created and that has not expired, else undefined. */
    public recognize(token: string | undefined, now = Date.now()): ContextTokenClaims | undefined {
        if (!token) {
            return undefined;
        }
        const claims = this.issued.get(token);
        if (!claims || claims.expiresAt <= now) {
            return undefined;
        }
        return { ...claims, ruleIds: [...claims.ruleIds] };
    }
}

/** Decodes the payload part of a JWT-shaped token without checking the signature. */
export function decodeContextTokenPayload(token: string): unknown {
    const parts = token.split(".");
    if (parts.length !== 3) {
        throw new Error("A context token has three dot-separated parts.");
    }
    return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

function base64url(text: string): string {
    return Buffer.from(text, "utf8").toString("base64url");
}

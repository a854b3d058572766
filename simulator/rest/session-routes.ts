import { HttpError } from "../errors";
import { Router, sendJson } from "../router";
import { sessionDto, type Principal } from "./auth";
import { restHandler, type RestDependencies } from "./context";

/**
 * Adds `POST`, `GET` and `DELETE /rest/session`. A login sets the
 * `JSESSIONID` cookie and returns the `csrf_token` that later requests
 * send as `X-sess-id`. With an API key, `GET` returns the key's orgs.
 */
export function addSessionRoutes(router: Router, deps: RestDependencies): void {
    const { state, sessions } = deps;

    router.add("POST", "/rest/session", async (context) => {
        if (deps.faults.takeConnectionClose()) {
            context.res.once("finish", () => context.req.socket.end());
        }
        const body = await context.json();
        const login = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
        const session = sessions.login(login.email, login.password);
        const principal: Principal = { kind: "user", user: state.user(session.userId), session };
        const secure = "encrypted" in context.req.socket ? "; Secure" : "";
        sendJson(context.res, 200, sessionDto(state, principal, context.req.socket.remoteAddress ?? ""), {
            "Set-Cookie": `JSESSIONID=${session.id}; Path=/; HttpOnly${secure}`,
        });
    });

    router.add("GET", "/rest/session", async (context) => {
        // GET /rest/session works with the cookie alone, so a client can recover its csrf_token.
        let principal: Principal;
        if (context.req.headers.authorization) {
            principal = sessions.authenticate(context.req);
        } else {
            const session = sessions.sessionFromCookie(context.req.headers.cookie);
            if (!session) {
                throw new HttpError(401, "Unauthorized: log in with POST /rest/session or send an API key with HTTP Basic authentication.");
            }
            principal = { kind: "user", user: state.user(session.userId), session };
        }
        sendJson(context.res, 200, sessionDto(state, principal, context.req.socket.remoteAddress ?? ""));
    });

    router.add("DELETE", "/rest/session", restHandler(deps, (call) => {
        if (call.principal.kind === "user") {
            sessions.logout(call.principal.session.id);
        }
        sendJson(call.context.res, 200, { success: true, title: null, message: null, hints: [] }, {
            "Set-Cookie": "JSESSIONID=; Path=/; Max-Age=0",
        });
    }, false));
}

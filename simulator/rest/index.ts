import { Router } from "../router";
import { addChildRoutes } from "./child-routes";
import type { RestDependencies } from "./context";
import { addIncidentRoutes } from "./incident-routes";
import { addMetaRoutes } from "./meta-routes";
import { addSessionRoutes } from "./session-routes";

/** Builds the router of the simulated REST API under `/rest/`. */
export function restRoutes(deps: RestDependencies): Router {
    const router = new Router();
    addSessionRoutes(router, deps);
    addIncidentRoutes(router, deps);
    addChildRoutes(router, deps);
    addMetaRoutes(router, deps);
    return router;
}

export { DEFAULT_CREDENTIALS, type RestCredentials } from "./auth";
export type { IncidentChange, RestDependencies } from "./context";

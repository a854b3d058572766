import { buildCatalog, type TypeDef } from "./catalog";
import type { FunctionDef, Incident, JsonObject, MessageDestination, Org, PlatformUser, Rule } from "./model";
import { NotFoundError } from "./errors";
import { buildSeed } from "./seed";

/**
 * The simulated platform's data: orgs, users, type catalog, message
 * destinations, rules, functions, incidents and their child objects.
 * Lookups return the stored objects; callers that hand them out copy them.
 */
export class PlatformState {
    public readonly catalog: Record<string, TypeDef> = buildCatalog();
    public readonly orgs = new Map<number, Org>();
    public readonly users = new Map<number, PlatformUser>();
    public readonly destinations = new Map<number, MessageDestination>();
    public readonly rules = new Map<number, Rule>();
    public readonly functions = new Map<number, FunctionDef>();
    public readonly incidents = new Map<number, Incident>();
    public readonly comments: Map<number, JsonObject[]>;
    public readonly artifacts: Map<number, JsonObject[]>;
    public readonly tasks: Map<number, JsonObject[]>;
    public readonly attachments = new Map<number, JsonObject[]>();

    private nextObjectId = 5000;
    private nextIncidentId = 2500;

    public constructor() {
        const seed = buildSeed();
        for (const org of seed.orgs) this.orgs.set(org.id, org);
        for (const user of seed.users) this.users.set(user.id, user);
        for (const destination of seed.destinations) this.destinations.set(destination.id, destination);
        for (const rule of seed.rules) this.rules.set(rule.id, rule);
        for (const fn of seed.functions) this.functions.set(fn.id, fn);
        for (const incident of seed.incidents) this.incidents.set(incident.id, incident);
        this.comments = seed.comments;
        this.artifacts = seed.artifacts;
        this.tasks = seed.tasks;
    }

    /** Allocates an id for a new note, artifact, task or attachment. */
    public allocateObjectId(): number {
        return this.nextObjectId++;
    }

    /** Allocates an id for a new incident. */
    public allocateIncidentId(): number {
        return this.nextIncidentId++;
    }

    /** Returns the org, or throws NotFoundError. */
    public org(id: number): Org {
        const org = this.orgs.get(id);
        if (!org) {
            throw new NotFoundError(`Org ${id} not found.`);
        }
        return org;
    }

    /** Returns the rule, or throws NotFoundError. */
    public rule(id: number): Rule {
        const rule = this.rules.get(id);
        if (!rule) {
            throw new NotFoundError(`Rule ${id} not found; known rules: ${[...this.rules.keys()].join(", ")}.`);
        }
        return rule;
    }

    /** Returns the function with this API name in the org, or throws NotFoundError. */
    public functionByName(orgId: number, name: string): FunctionDef {
        for (const fn of this.functions.values()) {
            if (fn.org_id === orgId && fn.name === name) {
                return fn;
            }
        }
        throw new NotFoundError(`Function "${name}" not found in org ${orgId}.`);
    }

    /** Returns the message destination, or throws NotFoundError. */
    public destination(id: number): MessageDestination {
        const destination = this.destinations.get(id);
        if (!destination) {
            throw new NotFoundError(`Message destination ${id} not found.`);
        }
        return destination;
    }

    /** Returns the org's destination with this programmatic name, or undefined. */
    public destinationByName(orgId: number, programmaticName: string): MessageDestination | undefined {
        for (const destination of this.destinations.values()) {
            if (destination.org_id === orgId && destination.programmatic_name === programmaticName) {
                return destination;
            }
        }
        return undefined;
    }

    /** Returns the incident if it exists in the org, or throws NotFoundError. */
    public incident(orgId: number, id: number): Incident {
        const incident = this.incidents.get(id);
        if (!incident || incident.org_id !== orgId) {
            throw new NotFoundError(`Unable to find object with ID ${id.toLocaleString("en-US")}`);
        }
        return incident;
    }

    /** Returns the user, or throws NotFoundError. */
    public user(id: number): PlatformUser {
        const user = this.users.get(id);
        if (!user) {
            throw new NotFoundError(`User ${id} not found.`);
        }
        return user;
    }

    /** Builds the `user` object of an ActionDataDTO for a platform user. */
    public userDto(id: number): JsonObject {
        const user = this.user(id);
        return {
            id: user.id,
            fname: user.fname,
            lname: user.lname,
            email: user.email,
            status: "A",
            locked: false,
            is_external: false,
            last_login: 1735600000000,
            phone: null,
            cell: null,
            title: null,
            notes: null,
        };
    }

    /** Finds a child object (note, task, artifact, attachment) of an incident by id. */
    public childObject(kind: "comments" | "tasks" | "artifacts" | "attachments", incidentId: number, id: number): JsonObject | undefined {
        return this[kind].get(incidentId)?.find((entry) => entry.id === id);
    }
}

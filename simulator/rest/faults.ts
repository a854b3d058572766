/**
 * Faults that tests switch on to exercise a client's error handling. Each
 * fault applies to a number of upcoming requests and then switches off.
 */
export class FaultInjector {
    private readonly conflicts = new Map<number, number>();
    private connectionCloses = 0;

    /** Makes the next `count` PUTs on the incident fail with 409, as if another user saved it just before. */
    public forceIncidentConflicts(incidentId: number, count: number): void {
        this.conflicts.set(incidentId, (this.conflicts.get(incidentId) ?? 0) + count);
    }

    /** Makes the server close the connection after each of the next `count` REST responses. */
    public closeConnectionsAfterResponses(count: number): void {
        this.connectionCloses += count;
    }

    /** Uses up one forced conflict of the incident; returns true when the PUT must conflict. */
    public takeIncidentConflict(incidentId: number): boolean {
        const left = this.conflicts.get(incidentId) ?? 0;
        if (left <= 0) {
            return false;
        }
        this.conflicts.set(incidentId, left - 1);
        return true;
    }

    /** Uses up one forced connection close; returns true when this response must close its connection. */
    public takeConnectionClose(): boolean {
        if (this.connectionCloses <= 0) {
            return false;
        }
        this.connectionCloses -= 1;
        return true;
    }
}

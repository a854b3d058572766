/** Raised when a looked-up object does not exist; HTTP handlers respond 404. */
export class NotFoundError extends Error {
    public constructor(message: string) {
        super(message);
        this.name = "NotFoundError";
    }
}

/** Raised for invalid input from a caller; HTTP handlers respond 400. */
export class InvalidRequestError extends Error {
    public constructor(message: string) {
        super(message);
        this.name = "InvalidRequestError";
    }
}

/** Raised when the simulator cannot do the work right now (no broker); HTTP handlers respond 503. */
export class UnavailableError extends Error {
    public constructor(message: string) {
        super(message);
        this.name = "UnavailableError";
    }
}

/** Returns the HTTP status for an error thrown by the simulator's own code. */
export function statusForError(error: unknown): number {
    if (error instanceof NotFoundError) return 404;
    if (error instanceof InvalidRequestError) return 400;
    if (error instanceof UnavailableError) return 503;
    if (error instanceof HttpError) return error.status;
    return 500;
}

/** Raised with an explicit HTTP status, such as 401, 403 or 409 from the REST API. */
export class HttpError extends Error {
    public constructor(public readonly status: number, message: string) {
        super(message);
        this.name = "HttpError";
    }
}

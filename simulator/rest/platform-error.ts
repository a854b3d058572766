/** Builds the platform's error body, as real 403 and 404 responses carry it. */
export function platformErrorBody(message: string): Record<string, unknown> {
    return { success: false, title: null, message, hints: [], error_code: "generic" };
}

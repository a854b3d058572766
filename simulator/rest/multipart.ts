import { InvalidRequestError } from "../errors";

/** One part of a `multipart/form-data` body. */
export interface FormPart {
    name: string;
    filename?: string;
    contentType: string;
    data: Buffer;
}

/** Splits a `multipart/form-data` body (RFC 7578) into its parts. */
export function parseMultipart(contentType: string | undefined, body: Buffer): FormPart[] {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? "");
    if (!contentType?.toLowerCase().startsWith("multipart/form-data") || !boundary) {
        throw new InvalidRequestError("The request must be multipart/form-data with a boundary.");
    }
    const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2].trim()}`);
    const parts: FormPart[] = [];
    let start = body.indexOf(delimiter);
    while (start >= 0) {
        const afterDelimiter = start + delimiter.length;
        if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === "--") {
            break;
        }
        const next = body.indexOf(delimiter, afterDelimiter);
        if (next < 0) {
            throw new InvalidRequestError("The multipart body ends without its closing boundary.");
        }
        // Each part sits between the CRLF after one delimiter and the CRLF before the next.
        parts.push(parsePart(body.subarray(afterDelimiter + 2, next - 2)));
        start = next;
    }
    return parts;
}

function parsePart(raw: Buffer): FormPart {
    const headerEnd = raw.indexOf("\r\n\r\n");
    if (headerEnd < 0) {
        throw new InvalidRequestError("A multipart part has no header block.");
    }
    const headers = raw.subarray(0, headerEnd).toString("utf8").split("\r\n");
    const disposition = headers.find((line) => /^content-disposition:/i.test(line)) ?? "";
    const type = headers.find((line) => /^content-type:/i.test(line));
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    if (name === undefined) {
        throw new InvalidRequestError("A multipart part has no name in its Content-Disposition header.");
    }
    return {
        name,
        filename: /\bfilename="([^"]*)"/i.exec(disposition)?.[1],
        contentType: type ? type.slice(type.indexOf(":") + 1).trim() : "application/octet-stream",
        data: raw.subarray(headerEnd + 4),
    };
}

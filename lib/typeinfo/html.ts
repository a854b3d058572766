/**
 * Elements whose start and end tags begin a new line of text. `br` is handled
 * apart because every `br` gives a line break, even right after another one.
 */
const BLOCK_ELEMENTS: ReadonlySet<string> = new Set([
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "tbody", "tfoot", "thead", "tr", "ul",
]);

/** Table cells, which are kept apart by a space. */
const CELL_ELEMENTS: ReadonlySet<string> = new Set(["td", "th"]);

/** Elements whose content is code or markup, not text; it is dropped. */
const RAW_TEXT_ELEMENTS: ReadonlySet<string> = new Set(["script", "style", "template"]);

/** Named character references that are decoded; others are kept as written. */
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
    amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " ",
    ndash: "\u2013", mdash: "\u2014", hellip: "\u2026", bull: "\u2022", middot: "\u00b7",
    lsquo: "\u2018", rsquo: "\u2019", ldquo: "\u201c", rdquo: "\u201d",
    copy: "\u00a9", reg: "\u00ae", trade: "\u2122", euro: "\u20ac",
};

/** Maximum length of a character reference between `&` and `;`; longer ones stay as text. */
const MAX_ENTITY_LENGTH = 32;

/** Whitespace in the HTML sense; a run of it collapses to one space. A single character class cannot backtrack. */
const WHITESPACE_RUN = /[ \t\n\f\r]+/;

/**
 * Converts HTML, such as a rich-text field's content, to plain text: tags are
 * removed, block elements and `br` start new lines, table cells are separated
 * by spaces, whitespace runs collapse to one space, and common character
 * references are decoded. Script and style content is dropped. The scan is a
 * single pass, so its time grows linearly with the input. It is meant for
 * reading, not for sanitizing HTML that will be displayed again.
 * NOTE: whitespace inside `pre` collapses too.
 */
export function htmlToText(html: string): string {
    const text = new TextBuilder();
    let position = 0;
    while (position < html.length) {
        const open = html.indexOf("<", position);
        if (open < 0) {
            text.append(decodeEntities(html.slice(position)));
            break;
        }
        text.append(decodeEntities(html.slice(position, open)));
        position = skipMarkup(html, open, text);
    }
    return text.finish();
}

/** Reads the markup that starts at `open` (a "<"), applies its effect on the text, and returns where text goes on. */
function skipMarkup(html: string, open: number, text: TextBuilder): number {
    if (html.startsWith("<!--", open)) {
        const end = html.indexOf("-->", open + 4);
        return end < 0 ? html.length : end + 3;
    }

    const next = html.charAt(open + 1);
    if (next === "!" || next === "?") {
        const end = html.indexOf(">", open);
        return end < 0 ? html.length : end + 1;
    }
    const closing = next === "/";
    const nameStart = closing ? open + 2 : open + 1;
    if (!isAsciiLetter(html.charAt(nameStart))) {
        if (closing) {
            // "</" without a tag name is not text in HTML; skip it up to its ">".
            const end = html.indexOf(">", open);
            return end < 0 ? html.length : end + 1;
        }
        text.append("<");
        return open + 1;
    }

    let nameEnd = nameStart;
    while (nameEnd < html.length && isTagNameChar(html.charAt(nameEnd))) {
        nameEnd += 1;
    }
    const name = html.slice(nameStart, nameEnd).toLowerCase();
    const end = findTagEnd(html, nameEnd);
    if (end < 0) {
        // An unterminated tag runs to the end of the input, as in a browser.
        return html.length;
    }

    if (!closing && RAW_TEXT_ELEMENTS.has(name) && html.charAt(end - 1) !== "/") {
        return findEndOfElement(html, name, end + 1);
    }
    if (name === "br") {
        text.lineBreak();
    } else if (BLOCK_ELEMENTS.has(name)) {
        text.blockBoundary();
    } else if (CELL_ELEMENTS.has(name)) {
        text.space();
    }
    return end + 1;
}

/** Returns the index of the ">" that ends a tag, skipping quoted attribute values, or -1. */
function findTagEnd(html: string, from: number): number {
    let quote = "";
    let afterEquals = false;
    for (let index = from; index < html.length; index += 1) {
        const char = html.charAt(index);
        if (quote !== "") {
            if (char === quote) {
                quote = "";
            }
        } else if (char === ">") {
            return index;
        } else if (afterEquals && (char === '"' || char === "'")) {
            quote = char;
            afterEquals = false;
        } else if (char === "=") {
            afterEquals = true;
        } else if (!isWhitespace(char)) {
            afterEquals = false;
        }
    }
    return -1;
}

/** Returns the index just after the end tag of a raw text element such as `script`, or the input's length. */
function findEndOfElement(html: string, name: string, from: number): number {
    let position = from;
    for (;;) {
        const start = html.indexOf("</", position);
        if (start < 0) {
            return html.length;
        }
        const nameEnd = start + 2 + name.length;
        const after = html.charAt(nameEnd);
        const endsName = after === "" || after === ">" || after === "/" || isWhitespace(after);
        if (endsName && html.slice(start + 2, nameEnd).toLowerCase() === name) {
            const end = html.indexOf(">", start);
            return end < 0 ? html.length : end + 1;
        }
        position = start + 2;
    }
}

function decodeEntities(text: string): string {
    if (!text.includes("&")) {
        return text;
    }
    const parts: string[] = [];
    let position = 0;
    for (;;) {
        const ampersand = text.indexOf("&", position);
        if (ampersand < 0) {
            parts.push(text.slice(position));
            break;
        }
        parts.push(text.slice(position, ampersand));

        // Look for ";" only a short way ahead, so that many bare "&" cannot make the scan quadratic.
        const candidate = text.slice(ampersand + 1, ampersand + 2 + MAX_ENTITY_LENGTH);
        const semicolon = candidate.indexOf(";");
        const decoded = semicolon > 0 ? decodeEntity(candidate.slice(0, semicolon)) : undefined;
        if (decoded === undefined) {
            parts.push("&");
            position = ampersand + 1;
        } else {
            parts.push(decoded);
            position = ampersand + 2 + semicolon;
        }
    }
    return parts.join("");
}

/** Decodes one character reference without its "&" and ";", or returns `undefined` when it is unknown. */
function decodeEntity(reference: string): string | undefined {
    if (reference.startsWith("#")) {
        const hex = reference.startsWith("#x") || reference.startsWith("#X");
        const digits = reference.slice(hex ? 2 : 1);
        const valid = hex ? /^[0-9a-fA-F]{1,8}$/.test(digits) : /^[0-9]{1,10}$/.test(digits);
        if (!valid) {
            return undefined;
        }
        const codePoint = Number.parseInt(digits, hex ? 16 : 10);
        const isSurrogate = codePoint >= 0xd800 && codePoint <= 0xdfff;
        return codePoint > 0 && codePoint <= 0x10ffff && !isSurrogate ? String.fromCodePoint(codePoint) : "\ufffd";
    }
    return Object.hasOwn(NAMED_ENTITIES, reference) ? NAMED_ENTITIES[reference] : undefined;
}

function isAsciiLetter(char: string): boolean {
    return (char >= "a" && char <= "z") || (char >= "A" && char <= "Z");
}

function isTagNameChar(char: string): boolean {
    return isAsciiLetter(char) || (char >= "0" && char <= "9") || char === "-";
}

function isWhitespace(char: string): boolean {
    return char === " " || char === "\t" || char === "\n" || char === "\f" || char === "\r";
}

/** Collects text into lines, collapsing whitespace the way a browser renders it. */
class TextBuilder {
    private readonly lines: string[] = [];
    private words: string[] = [];
    private spacePending = false;

    public append(text: string): void {
        const pieces = text.split(WHITESPACE_RUN);
        for (let index = 0; index < pieces.length; index += 1) {
            if (index > 0) {
                this.spacePending = true;
            }
            const piece = pieces[index];
            if (piece.length === 0) {
                continue;
            }
            if (this.spacePending && this.words.length > 0) {
                this.words.push(" ");
            }
            this.spacePending = false;
            this.words.push(piece);
        }
    }

    public space(): void {
        this.spacePending = true;
    }

    public lineBreak(): void {
        this.lines.push(this.words.join(""));
        this.words = [];
        this.spacePending = false;
    }

    /** Ends the current line unless it is empty, so nested blocks give one line break, not several. */
    public blockBoundary(): void {
        if (this.words.length > 0) {
            this.lineBreak();
        }
    }

    public finish(): string {
        this.blockBoundary();
        return this.lines.join("\n").trim();
    }
}

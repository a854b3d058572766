import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { DeliveryTracker, ReplyError, trackingKey, type DeliverySettings, type DeliveryTransport } from "../../lib/delivery/tracker";
import { MessageType, type OutboundFrame } from "../../lib/messages/replies";

/** A transport whose RECEIPTs the test releases by hand, recording every frame and ACK in order. */
class FakeTransport implements DeliveryTransport {
    public generation = 1;
    public connected = true;
    public readonly events: string[] = [];
    public readonly sent: OutboundFrame[] = [];
    private pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
    public autoReceipt = true;
    public refuseSends = false;

    public send(frame: OutboundFrame): Promise<void> {
        if (!this.connected) {
            return Promise.reject(new Error("not connected"));
        }
        this.sent.push(frame);
        this.events.push(`send ${frame.headers["correlation-id"]}`);
        if (this.refuseSends) {
            return Promise.reject(Object.assign(new Error("User processor is not authorized to write to: queue://acks.201.ticket"), { refused: true }));
        }
        return new Promise<void>((resolve, reject) => {
            if (this.autoReceipt) {
                queueMicrotask(() => {
                    this.events.push("receipt");
                    resolve();
                });
            } else {
                this.pending.push({ resolve, reject });
            }
        });
    }

    public ack(ackId: string, subscriptionId: string): void {
        this.events.push(`ack ${ackId} ${subscriptionId}`);
    }

    public waitForConnection(): Promise<void> {
        return this.connected ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, 5));
    }

    public releaseReceipts(): void {
        for (const pending of this.pending.splice(0)) {
            this.events.push("receipt");
            pending.resolve();
        }
    }

    public drop(): void {
        this.connected = false;
        for (const pending of this.pending.splice(0)) {
            pending.reject(new Error("connection dropped"));
        }
    }

    public reconnect(): void {
        this.generation += 1;
        this.connected = true;
    }
}

const settings: DeliverySettings = { subscriptionId: "sub-1", acknowledge: "after-reply", processingTimeoutMs: 0 };

function actionFrame(messageId: string, ackId: string, body?: string) {
    return {
        ackId,
        body:
            body ??
            JSON.stringify({ action_id: 612, object_type: 0, incident: { id: 2301 }, properties: null, type_info: {} }),
        headers: {
            "message-id": messageId,
            ack: ackId,
            "reply-to": "/queue/acks.201.ticket",
            "correlation-id": `invid:${messageId}`,
            Co3MessagePayload: "ActionDataDTO",
        },
    };
}

/** Tracking key of a message on the test subscription. */
function key(messageId: string): string {
    return trackingKey(settings.subscriptionId, messageId);
}

const completed = { messageType: MessageType.Information, message: "Done", complete: true } as const;

async function settle(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
}

describe("DeliveryTracker", () => {
    test("new message is emitted once", () => {
        const tracker = new DeliveryTracker(new FakeTransport());
        const arrival = tracker.arrive(settings, actionFrame("m1", "a1"));
        assert.equal(arrival.outcome, "new");
        assert.equal(tracker.count("sub-1"), 1);
        tracker.dispose();
    });

    test("ACK follows the reply receipt", async () => {
        const transport = new FakeTransport();
        transport.autoReceipt = false;
        const tracker = new DeliveryTracker(transport);
        tracker.arrive(settings, actionFrame("m1", "a1"));
        const replying = tracker.reply(key("m1"), completed);
        await settle();
        assert.deepEqual(transport.events, ["send invid:m1"]);
        transport.releaseReceipts();
        await replying;
        assert.deepEqual(transport.events, ["send invid:m1", "receipt", "ack a1 sub-1"]);
        tracker.dispose();
    });

    test("final reply is persistent JSON with the correlation id", async () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        tracker.arrive(settings, actionFrame("m1", "a1"));
        await tracker.reply(key("m1"), completed);
        const frame = transport.sent[0];
        assert.equal(frame.destination, "/queue/acks.201.ticket");
        assert.equal(frame.headers["correlation-id"], "invid:m1");
        assert.equal(frame.headers.persistent, "true");
        assert.deepEqual(JSON.parse(frame.body), { message_type: 0, message: "Done", complete: true });
        tracker.dispose();
    });

    test("redelivered copy in flight is not emitted", async () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        tracker.arrive(settings, actionFrame("m1", "a1"));
        const again = tracker.arrive(settings, actionFrame("m1", "a2"));
        assert.equal(again.outcome, "duplicate");
        await tracker.reply(key("m1"), completed);
        assert.deepEqual(transport.events.slice(-1), ["ack a2 sub-1"]);
        tracker.dispose();
    });

    test("finished message is re-answered and ACKed", async () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        tracker.arrive(settings, actionFrame("m1", "a1"));
        await tracker.reply(key("m1"), completed);
        const back = tracker.arrive(settings, actionFrame("m1", "a9"));
        await settle();
        assert.equal(back.outcome, "finished");
        assert.equal(transport.sent.length, 2);
        assert.equal(transport.sent[1].body, transport.sent[0].body);
        assert.deepEqual(transport.events.slice(-1), ["ack a9 sub-1"]);
        tracker.dispose();
    });

    test("second completion is refused", async () => {
        const tracker = new DeliveryTracker(new FakeTransport());
        tracker.arrive(settings, actionFrame("m1", "a1"));
        await tracker.reply(key("m1"), completed);
        await assert.rejects(tracker.reply(key("m1"), completed), (error: unknown) => {
            assert.ok(error instanceof ReplyError);
            assert.equal(error.code, "already-complete");
            return true;
        });
        tracker.dispose();
    });

    test("interim replies do not ACK", async () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        tracker.arrive(settings, actionFrame("m1", "a1"));
        await tracker.reply(key("m1"), { messageType: MessageType.Information, message: "Working", complete: false });
        await tracker.reply(key("m1"), { messageType: MessageType.Information, message: "Still working", complete: false });
        assert.equal(transport.events.filter((event) => event.startsWith("ack")).length, 0);
        assert.equal(tracker.isInFlight(key("m1")), true);
        tracker.dispose();
    });

    test("invalid JSON gets error reply and ACK", async () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        const arrival = tracker.arrive(settings, actionFrame("m1", "a1", "{not json"));
        assert.equal(arrival.outcome, "invalid");
        assert.equal(arrival.outcome === "invalid" && (await arrival.replied), true);
        const reply = JSON.parse(transport.sent[0].body) as { message_type: number; complete: boolean; message: string };
        assert.equal(reply.message_type, 1);
        assert.equal(reply.complete, true);
        assert.match(reply.message, /not valid JSON/);
        assert.deepEqual(transport.events.slice(-1), ["ack a1 sub-1"]);
        tracker.dispose();
    });

    test("body failing the schema is rejected", () => {
        const tracker = new DeliveryTracker(new FakeTransport());
        const arrival = tracker.arrive(settings, actionFrame("m1", "a1", JSON.stringify({ object_type: 0 })));
        assert.equal(arrival.outcome, "invalid");
        assert.match(arrival.outcome === "invalid" ? arrival.error.message : "", /incident/);
        tracker.dispose();
    });

    test("control message is ACKed without reply", () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        const frame = actionFrame("m1", "a1", "{}");
        frame.headers.Co3MessagePayload = "ConnectorSubscriptionUpdateDTO";
        const arrival = tracker.arrive(settings, frame);
        assert.equal(arrival.outcome, "control");
        assert.equal(transport.sent.length, 0);
        assert.deepEqual(transport.events, ["ack a1 sub-1"]);
        tracker.dispose();
    });

    test("on-receipt mode ACKs on arrival", () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        tracker.arrive({ ...settings, acknowledge: "on-receipt" }, actionFrame("m1", "a1"));
        assert.deepEqual(transport.events, ["ack a1 sub-1"]);
        tracker.dispose();
    });

    test("timeout sends error reply and ACKs", async () => {
        const transport = new FakeTransport();
        const timedOut: string[] = [];
        const tracker = new DeliveryTracker(transport, { onTimeout: (_id, _settings, correlationId) => timedOut.push(correlationId) });
        tracker.arrive({ ...settings, processingTimeoutMs: 20 }, actionFrame("m1", "a1"));
        await new Promise((resolve) => setTimeout(resolve, 60));
        assert.deepEqual(timedOut, ["invid:m1"]);
        assert.equal((JSON.parse(transport.sent[0].body) as { message_type: number }).message_type, 1);
        assert.deepEqual(transport.events.slice(-1), ["ack a1 sub-1"]);
        tracker.dispose();
    });

    test("drop before receipt resends after redelivery", async () => {
        const transport = new FakeTransport();
        transport.autoReceipt = false;
        const tracker = new DeliveryTracker(transport, { replyTimeoutMs: 2000 });
        tracker.arrive(settings, actionFrame("m1", "a1"));
        const replying = tracker.reply(key("m1"), completed);
        await settle();
        transport.drop();
        transport.reconnect();
        transport.autoReceipt = true;
        assert.equal(tracker.arrive(settings, actionFrame("m1", "b1")).outcome, "duplicate");
        await replying;
        await settle();
        assert.equal(transport.sent.length, 2);
        assert.deepEqual(transport.events.filter((event) => event.startsWith("ack")), ["ack b1 sub-1"]);
        tracker.dispose();
    });

    test("stored reply waits for redelivery to ACK", async () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        tracker.arrive(settings, actionFrame("m1", "a1"));
        transport.drop();
        transport.reconnect();
        await tracker.reply(key("m1"), completed);
        assert.equal(transport.events.filter((event) => event.startsWith("ack")).length, 0);
        tracker.arrive(settings, actionFrame("m1", "b1"));
        await settle();
        assert.equal(transport.sent.length, 1);
        assert.deepEqual(transport.events.slice(-1), ["ack b1 sub-1"]);
        tracker.dispose();
    });

    test("reply to unknown message is rejected", async () => {
        const tracker = new DeliveryTracker(new FakeTransport());
        await assert.rejects(tracker.reply(key("nope"), completed), /No invocation for message nope/);
        tracker.dispose();
    });

    test("unanswered on-receipt message expires", async () => {
        const tracker = new DeliveryTracker(new FakeTransport(), { finishedTtlMs: 20 });
        tracker.arrive({ ...settings, acknowledge: "on-receipt" }, actionFrame("m1", "a1"));
        await new Promise((resolve) => setTimeout(resolve, 80));
        assert.equal(tracker.count(), 0);
        await assert.rejects(tracker.reply(key("m1"), completed), (error: unknown) => {
            assert.ok(error instanceof ReplyError);
            assert.equal(error.code, "unknown-invocation");
            return true;
        });
        tracker.dispose();
    });

    test("circular results are rejected clearly", async () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        tracker.arrive(settings, actionFrame("m1", "a1"));
        const results: Record<string, unknown> = {};
        results.self = results;
        await assert.rejects(tracker.reply(key("m1"), { ...completed, results }), /cannot be sent as JSON/);
        assert.equal(transport.sent.length, 0);
        tracker.dispose();
    });

    test("refused final reply ACKs and fails", async () => {
        const transport = new FakeTransport();
        transport.refuseSends = true;
        const tracker = new DeliveryTracker(transport);
        tracker.arrive(settings, actionFrame("m1", "a1"));
        await assert.rejects(tracker.reply(key("m1"), completed), (error: unknown) => {
            assert.ok(error instanceof ReplyError);
            assert.equal(error.code, "refused");
            return true;
        });
        assert.equal(transport.sent.length, 1);
        assert.deepEqual(transport.events.slice(-1), ["ack a1 sub-1"]);
        assert.equal(tracker.count(), 0);
        tracker.dispose();
    });

    test("invalid UTF-8 gets an error reply", async () => {
        const transport = new FakeTransport();
        const tracker = new DeliveryTracker(transport);
        const arrival = tracker.arrive(settings, { ...actionFrame("m1", "a1"), validUtf8: false });
        assert.equal(arrival.outcome, "invalid");
        assert.equal(arrival.outcome === "invalid" && arrival.error.code, "invalid-encoding");
        assert.equal(arrival.outcome === "invalid" && (await arrival.replied), true);
        assert.deepEqual(transport.events.slice(-1), ["ack a1 sub-1"]);
        tracker.dispose();
    });
});

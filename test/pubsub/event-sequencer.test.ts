// The sequencer turns commit-ordered notifications into id order: out-of-order arrivals wait
// for their predecessors, a gap that outlives the timeout is settled with the database (rows
// that exist are emitted, ids that never committed are skipped), duplicates are dropped.
import { describe, expect, it } from "vitest";
import { EventSequencer } from "../../src/pubsub/event-sequencer.ts";
import { log, waitFor } from "../helpers.ts";

type Ev = { id: number; from?: string };

function setup(db: Ev[] = [], gapTimeoutMs = 60) {
  const out: Ev[] = [];
  const lookups: Array<[number, number]> = [];
  const seq = new EventSequencer<Ev>({
    log,
    gapTimeoutMs,
    emit: (e) => out.push(e),
    lookup: async (after, before, limit) => {
      lookups.push([after, before]);
      return db.filter((e) => e.id > after && e.id < before).slice(0, limit).map((e) => ({ ...e, from: "db" }));
    },
  });
  return { seq, out, lookups, ids: () => out.map((e) => e.id) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("EventSequencer", () => {
  it("emits out-of-order arrivals in id order, at once when the gap fills", async () => {
    const { seq, ids, lookups } = setup();
    seq.reset(10);
    seq.push({ id: 13 });
    seq.push({ id: 12 });
    expect(ids()).toEqual([]);
    seq.push({ id: 11 });
    expect(ids()).toEqual([11, 12, 13]);
    seq.push({ id: 14 });
    expect(ids()).toEqual([11, 12, 13, 14]);
    expect(seq.highWater).toBe(14);
    await sleep(100);
    expect(lookups).toEqual([]); // no gap outlived the timeout: no query
    seq.stop();
  });

  it("skips a permanently missing id after the timeout, and emits an id that committed meanwhile from its row", async () => {
    // 11 rolled back (never in the table); 12 is committed but its NOTIFY has not arrived.
    const { seq, out, ids, lookups } = setup([{ id: 12 }]);
    seq.reset(10);
    seq.push({ id: 13 });
    await sleep(20);
    expect(ids()).toEqual([]);
    await waitFor(async () => out.length === 2, "the gap to be settled", 2_000, 5);
    expect(ids()).toEqual([12, 13]);
    expect(out[0]!.from).toBe("db");
    expect(lookups).toEqual([[10, 13]]);
    // 12's NOTIFY arrives late: a duplicate, dropped. 11 committing now is late: dropped (and logged).
    seq.push({ id: 12 });
    seq.push({ id: 11 });
    seq.push({ id: 14 });
    expect(ids()).toEqual([12, 13, 14]);
    seq.stop();
  });

  it("drops duplicates, and ids at or below the starting high-water mark", () => {
    const { seq, ids } = setup();
    seq.push({ id: 5 }); // before reset: held
    seq.reset(5);
    seq.push({ id: 6 });
    seq.push({ id: 6 });
    seq.push({ id: 3 });
    seq.push({ id: 8 });
    seq.push({ id: 8 });
    seq.push({ id: 7 });
    expect(ids()).toEqual([6, 7, 8]);
    seq.stop();
  });

  it("keeps what arrives while paused and resumes after the new high-water mark", () => {
    const { seq, ids } = setup();
    seq.reset(0);
    seq.push({ id: 1 });
    seq.pause();
    seq.push({ id: 4 });
    seq.push({ id: 6 });
    seq.reset(4); // max(id) read after LISTEN came back
    seq.push({ id: 5 });
    expect(ids()).toEqual([1, 5, 6]);
    seq.stop();
  });

  it("waits for the full timeout of each gap, not of the first one", async () => {
    const { seq, ids } = setup([], 80);
    seq.reset(0);
    seq.push({ id: 2 }); // gap at 1, from t=0
    await sleep(60);
    seq.push({ id: 4 }); // gap at 3, from t=60
    await waitFor(async () => ids().length === 1, "the first gap to be skipped", 2_000, 5);
    expect(ids()).toEqual([2]); // 3 has not waited its 80 ms yet
    seq.push({ id: 3 });
    expect(ids()).toEqual([2, 3, 4]);
    seq.stop();
  });
});

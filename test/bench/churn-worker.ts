// One worker process of `bench:engine --kill-churn`: the real Engine as `spool worker` builds
// it (engine pool, LISTEN connection, default lease, heartbeat and sweep), with one job type
// (BENCH_JOB_TYPE) that sleeps for `input.ms`. Prints "ready" once its engine runs; the
// bench SIGKILLs it.
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { openDatabase } from "../../src/db/database.ts";
import { Engine } from "../../src/engine/engine.ts";
import { createLogger } from "../../src/log.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";

async function main() {
  const url = process.env.DATABASE_URL!;
  const concurrency = Number(process.env.SPOOL_CONCURRENCY ?? 2);
  const log = createLogger("error");
  const db = openDatabase(url, { engineMax: concurrency + 4, onError: () => undefined });
  const listener = new PgListener(url, log);
  await listener.start();
  const registry = new ProcessorRegistry().register({
    type: process.env.BENCH_JOB_TYPE!,
    description: "sleeps for input.ms",
    input: z.object({ ms: z.number().int().min(0) }),
    run: async (job, ctx) => {
      await sleep(job.input.ms, undefined, { signal: ctx.signal });
      return null;
    },
  });
  new Engine({ pool: db.enginePool, registry, log, listener, concurrency }).start();
  process.stdout.write("ready\n");
}

void main();

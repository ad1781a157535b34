// What every media test file sets up per ffmpeg binary: the adapter, a test API with the
// media processors, its listening URL, an engine to drain, a tenant and a scratch folder.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import type { PgListener } from "../../src/pubsub/pg-listener.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { log, type TestDb } from "../helpers.ts";
import type { FfmpegBinarySet } from "./fixtures.ts";

export type MediaEnv = {
  ffmpeg: Ffmpeg; api: Api; engine: Engine; key: string; org: string; base: string; dir: string;
  close(): Promise<void>;
};

export async function startMediaEnv(
  db: TestDb, bin: FfmpegBinarySet,
  opts: { dirPrefix: string; listener?: PgListener; pollMs?: number; dir?: string },
): Promise<MediaEnv> {
  const ffmpeg = await Ffmpeg.resolve({ ffmpegPath: bin.ffmpeg, ffprobePath: bin.ffprobe });
  const api = await createTestApi(db, { ffmpeg });
  const base = (await api.listen()).http.replace(/\/graphql$/, "");
  const engine = new Engine({ pool: db.pool, registry: api.registry, log, listener: opts.listener, concurrency: 1, ...(opts.pollMs ? { pollMs: opts.pollMs } : {}) });
  const tenant = await api.tenant();
  const dir = opts.dir ?? await mkdtemp(path.join(os.tmpdir(), opts.dirPrefix));
  return {
    ffmpeg, api, engine, key: tenant.key, org: tenant.org.id, base, dir,
    async close() {
      await engine.stop(2_000);
      await api.close();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

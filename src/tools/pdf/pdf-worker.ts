// Child-process entry for src/tools/pdf/run-in-child.ts: the only code that parses untrusted
// PDFs. It runs one operation per process (`node --import tsx --max-old-space-size=…
// pdf-worker.ts`), receives `{ op, args }` over IPC and answers with plain data:
//   { type: "page", page, result }   progress (extractText, renderPages, extractImages)
//   { type: "done", result }
//   { type: "error", code, message, details }
// The parent enforces memory (RSS watch + V8 heap cap) and wall time by killing this process;
// nothing here needs to be trusted to stop on its own. The operations live by family in
// text.ts, render.ts, images.ts and edit.ts; this file only dispatches. Being an entry point,
// it starts listening when run as a child (process.send exists) and does nothing when imported.
import { extract, merge, rotate, setMetadata, stampImage, stampText } from "./edit.ts";
import { images } from "./images.ts";
import { watchPdfjsWarnings, WorkerFailure } from "./open-pdf.ts";
import { render, renderPages } from "./render.ts";
import { info, text } from "./text.ts";
import type { OnPage, WorkerMessage, WorkerRequest } from "./types.ts";

// `any`: each operation declares its own args, and the parent (pdf.ts) is what builds them.
const OPS: Record<string, (args: any, onPage: OnPage) => Promise<unknown>> = {
  info,
  text,
  render,
  renderPages,
  images,
  merge,
  extract,
  rotate,
  stampText,
  stampImage,
  setMetadata,
};

function send(msg: WorkerMessage) {
  process.send?.(msg);
}

if (process.send) {
  // The parent is gone (crash, kill -9): nothing left to answer to.
  process.on("disconnect", () => process.exit(1));
  watchPdfjsWarnings();
  process.once("message", (req: WorkerRequest) => {
    const op = OPS[req.op];
    const onPage: OnPage = (page, result) => send({ type: "page", page, result });
    const run = op ? op(req.args, onPage) : Promise.reject(new WorkerFailure("INVALID_INPUT", `Unknown PDF operation ${req.op}`));
    const finish = (msg: WorkerMessage) => process.send!(msg, () => process.exit(0));
    run.then(
      (result) => finish({ type: "done", result }),
      (err: unknown) => {
        if (err instanceof WorkerFailure) finish({ type: "error", code: err.code, message: err.message, details: err.details });
        else finish({ type: "error", code: "DOCUMENT_CORRUPTED", message: `The PDF could not be processed: ${(err as Error | undefined)?.message ?? String(err)}` });
      },
    );
  });
  send({ type: "ready" });
}

// Progress of reading a PDF, page by page, weighted by what each step costs: reading a page's
// text layer is cheap, recognising a page is not (bench:documents: ~10 ms a page of text,
// child start included, against ~1 s a page of OCR on a 2-worker pool). So a text-layer PDF
// moves through the whole read during its text stage, and a scan moves mostly during OCR.
//
// Which pages need OCR is learned only as their text arrives, so the estimate of the work can
// grow mid-way (a scanned page after text pages); progress then holds still rather than go back.
import type { JobContext } from "../../engine/types.ts";

/** Recognising a page costs about this many pages of text extraction. */
const OCR_PAGE_COST = 100;
/** Opening the file (page count, properties) counts as the first 2 % of the read. */
const INSPECT_SHARE = 0.02;

export class ReadProgress {
  private textDone = 0;
  private ocrNeeded = 0;
  private ocrDone = 0;
  private reported = 0;

  /** `share`: the part of the job's progress that reading is (the caller's stages follow). */
  constructor(private readonly ctx: JobContext, private readonly pageCount: number, private readonly share: number) {}

  /** One more page's text layer is read; `needsOcr` when that page is to be recognised too. */
  textPage(needsOcr: boolean): void {
    this.textDone++;
    if (needsOcr) this.ocrNeeded++;
    this.report({ pagesDone: this.textDone, pageCount: this.pageCount });
  }

  /** `done` of the `of` pages being recognised are. */
  ocrPages(done: number, of: number): void {
    this.ocrDone = done;
    this.ocrNeeded = of;
    this.report({ pagesDone: done, pageCount: of });
  }

  private report(details: { pagesDone: number; pageCount: number }): void {
    const work = this.pageCount + OCR_PAGE_COST * this.ocrNeeded;
    const done = this.textDone + OCR_PAGE_COST * this.ocrDone;
    const fraction = INSPECT_SHARE + (1 - INSPECT_SHARE) * Math.min(1, done / Math.max(1, work));
    this.reported = Math.max(this.reported, fraction);
    this.ctx.progress(this.reported * this.share, details);
  }
}

// The tus file store of unfinished uploads, made private and capped. @tus/file-store
// creates its folder 0755 and every upload's bytes and info 0644 — readable by every user of
// the machine, while stored files are 0700 — and lets a key open any number of uploads,
// each of which may grow to the largest accepted file.
import { chmodSync, mkdirSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { FileStore } from "@tus/file-store";
import type { Upload } from "@tus/server";
import { SpoolError } from "../errors.ts";

export type UploadStoreOptions = {
  directory: string;
  expiryMs: number;
  /** Unfinished uploads one organization may have at once. */
  maxOpenPerOrganization: number;
  /** The organization an upload belongs to (set by the server in onUploadCreate). */
  organizationOf: (upload: Upload) => string | undefined;
};

export class UploadStore extends FileStore {
  private readonly maxOpen: number;
  private readonly organizationOf: UploadStoreOptions["organizationOf"];
  /** Creations one after another, so two at once cannot both take an organization's last place. */
  private creating: Promise<unknown> = Promise.resolve();

  constructor(opts: UploadStoreOptions) {
    // Before FileStore's own (asynchronous, 0777 & umask) mkdir, which then finds it there.
    mkdirSync(opts.directory, { recursive: true, mode: 0o700 });
    chmodSync(opts.directory, 0o700);
    super({ directory: opts.directory, expirationPeriodInMilliseconds: opts.expiryMs });
    this.maxOpen = opts.maxOpenPerOrganization;
    this.organizationOf = opts.organizationOf;
  }

  override create(upload: Upload): Promise<Upload> {
    const created = this.creating.then(() => this.createWithinCap(upload));
    this.creating = created.catch(() => undefined);
    return created;
  }

  private async createWithinCap(upload: Upload): Promise<Upload> {
    const organizationId = this.organizationOf(upload);
    const open = organizationId ? await this.countOpen(organizationId) : 0;
    if (open >= this.maxOpen) {
      throw new SpoolError("RATE_LIMITED", `Your organization has ${open} unfinished uploads, the most it may have at once (SPOOL_MAX_OPEN_UPLOADS); finish or DELETE one, or wait until they expire.`, { open, max: this.maxOpen });
    }
    const created = await super.create(upload);
    // The bytes and their info (<id>.json); they are 0644 for an instant, inside the 0700 folder.
    const file = created.storage!.path;
    await Promise.all([chmod(file, 0o600), chmod(`${file}.json`, 0o600)]);
    return created;
  }

  /**
   * The organization's unexpired uploads on disk (finished ones are removed as they finish).
   * One read per upload in the folder, on POST only: the folder holds what is in flight on
   * this process, bounded by the cap times the organizations uploading.
   */
  private async countOpen(organizationId: string): Promise<number> {
    const expiry = this.getExpiration();
    const now = Date.now();
    let open = 0;
    for (const id of await this.configstore.list!()) {
      const info = await this.configstore.get(id);
      if (!info || this.organizationOf(info) !== organizationId) continue;
      const expired = expiry > 0 && info.creation_date !== undefined && new Date(info.creation_date).getTime() + expiry < now;
      if (!expired) open++;
    }
    return open;
  }
}

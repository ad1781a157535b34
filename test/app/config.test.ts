// The storage, limits and outbound-URL part of the configuration contract.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";

describe("configuration: storage, limits, outbound URLs", () => {
  it("defaults to a local folder under the data dir, public ports only and no private CIDR", () => {
    const c = loadConfig({ SPOOL_DATA_DIR: "/tmp/spool-x" });
    expect(c.storage).toEqual({ kind: "local", root: path.join("/tmp/spool-x", "files") });
    expect(c.outbound).toEqual({ allowCidrs: [], allowedPorts: [80, 443], timeoutMs: 1_800_000 });
    expect(c.limits).toEqual({ videoBytes: 5 * 1024 ** 3, documentBytes: 200 * 1024 ** 2, multipartBytes: 100 * 1024 ** 2, videoSeconds: 4 * 3600, documentPages: 5000, ocrPages: 1000 });
    expect(c.uploadExpiryMs).toBe(24 * 3_600_000);
    expect(c.publicUrl).toBeUndefined();
  });

  it("reads an S3 bucket, allowed CIDRs and ports, limits and the public URL", () => {
    const c = loadConfig({
      SPOOL_STORAGE: "s3", SPOOL_S3_BUCKET: "media", SPOOL_S3_ENDPOINT: "http://minio:9000", SPOOL_S3_FORCE_PATH_STYLE: "on", SPOOL_S3_PREFIX: "spool/prod",
      SPOOL_URL_ALLOW_CIDRS: "10.0.0.0/8, fd00::/8", SPOOL_URL_ALLOWED_PORTS: "80,443,8080", SPOOL_MAX_VIDEO_BYTES: "1000",
      SPOOL_PUBLIC_URL: "https://media.example.com/", SPOOL_UPLOAD_EXPIRY_HOURS: "2",
    });
    expect(c.storage).toEqual({ kind: "s3", bucket: "media", region: "us-east-1", endpoint: "http://minio:9000", forcePathStyle: true, prefix: "spool/prod" });
    expect(c.outbound.allowCidrs).toEqual(["10.0.0.0/8", "fd00::/8"]);
    expect(c.outbound.allowedPorts).toEqual([80, 443, 8080]);
    expect(c.limits.videoBytes).toBe(1000);
    expect(c.publicUrl).toBe("https://media.example.com");
    expect(c.uploadExpiryMs).toBe(7_200_000);
  });

  it("refuses what cannot work, naming the variable", () => {
    expect(() => loadConfig({ SPOOL_STORAGE: "s3" })).toThrow(/SPOOL_S3_BUCKET: required when SPOOL_STORAGE=s3/);
    expect(() => loadConfig({ SPOOL_URL_ALLOW_CIDRS: "10.0.0.0" })).toThrow(/SPOOL_URL_ALLOW_CIDRS: 10.0.0.0 is not a CIDR/);
    expect(() => loadConfig({ SPOOL_URL_ALLOWED_PORTS: "80;443" })).toThrow(/SPOOL_URL_ALLOWED_PORTS/);
    expect(() => loadConfig({ SPOOL_FILES_SECRET: "short" })).toThrow(/SPOOL_FILES_SECRET/);
    expect(() => loadConfig({ SPOOL_STORAGE: "ftp" })).toThrow(/SPOOL_STORAGE/);
    expect(() => loadConfig({ SPOOL_S3_PREFIX: "../x" })).toThrow(/SPOOL_S3_PREFIX/);
  });
});

// Runs a benchmark's main(): exits 1 on failure; after success, if a handle is left open,
// says which instead of hanging.
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => {
      setTimeout(() => {
        console.error(`bench: still running after shutdown: ${process.getActiveResourcesInfo().join(", ")}`);
        process.exit(0);
      }, 10_000).unref();
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

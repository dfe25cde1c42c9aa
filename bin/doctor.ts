import { formatReport, runDoctor } from "../local/doctor.ts";

/** `npm run doctor`: exits 0 when everything `npm start` needs is in place, 1 when something is not. */
try {
  const report = await runDoctor();
  process.stdout.write(formatReport(report));
  process.exit(report.ok ? 0 : 1);
} catch (error) {
  process.stderr.write(
    `\nthe doctor could not finish: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}

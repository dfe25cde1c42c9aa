/**
 * `npm run fake-gemini`: the local stand-in for the Gemini API (local/fake-gemini.ts), on PORT or 8787, until Ctrl-C.
 * It spends nothing and needs no network: edited images come back bannered "FAKE GEMINI".
 */
import { startFakeGemini } from "../local/fake-gemini.ts";

const DEFAULT_PORT = 8787;

const port = process.env.PORT ? Number(process.env.PORT) : DEFAULT_PORT;
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  process.stderr.write(`PORT must be a port number (0-65535), not "${process.env.PORT}"\n`);
  process.exit(2);
}

const fake = await startFakeGemini({
  port,
  onCall: (call) =>
    process.stdout.write(
      `${call.at.toISOString()} ${call.kind} ${call.model}${call.hasKey ? "" : " (no key: 403)"}${call.behaviour ? ` → ${call.behaviour}` : ""}\n`,
    ),
}).catch((error: unknown) => {
  process.stderr.write(`could not start the fake Gemini on port ${port}: ${(error as Error).message}\n`);
  process.exit(1);
});

process.stdout.write(
  `Fake Gemini listening on ${fake.url}\n` +
    `Point the local stack at it:  GEMINI_API_KEY=fake GEMINI_BASE_URL=${fake.url} npm start\n` +
    "Ctrl-C stops it.\n",
);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void fake.stop().then(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);

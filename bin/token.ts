import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type LocalRole, mintLocalToken } from "../local/identity.ts";
import { LOCAL_ENV } from "../local/stack.ts";

const usage = `Mints a development access token for the local stack (npm start).

  npm run token -- --seller alice            a seller named alice
  npm run token -- --reviewer bob            a reviewer named bob
  npm run token -- --seller carol --reviewer carol   both roles
  options: --ttl <seconds> (default 3600)

Use it as: curl -H "Authorization: Bearer $(npm run -s token -- --seller alice)" http://127.0.0.1:3000/products`;

const fail = (message: string): never => {
  process.stderr.write(`${message}\n\n${usage}\n`);
  process.exit(2);
};

const values = (() => {
  try {
    return parseArgs({
      options: {
        seller: { type: "string" },
        reviewer: { type: "string" },
        ttl: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    return fail((error as Error).message);
  }
})();
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const names = [values.seller, values.reviewer].filter((name): name is string => name !== undefined);
if (names.length === 0) fail("say who the token is for: --seller <name> or --reviewer <name>");
if (new Set(names).size > 1)
  fail("--seller and --reviewer together must name the same user (one user, two roles)");
const ttlSeconds = values.ttl === undefined ? 3600 : Number(values.ttl);
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) {
  fail("--ttl must be a whole number of seconds from 1 to 86400");
}
const roles: LocalRole[] = [
  ...(values.seller ? (["seller"] as const) : []),
  ...(values.reviewer ? (["reviewer"] as const) : []),
];

const stateDir = resolve(process.env[LOCAL_ENV.dataDir] ?? ".local");
try {
  process.stdout.write(
    `${await mintLocalToken(stateDir, { name: names[0] as string, roles, ttlSeconds })}\n`,
  );
} catch (error) {
  fail((error as Error).message);
}

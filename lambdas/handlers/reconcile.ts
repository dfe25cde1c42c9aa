import { reconcile } from "../domain/reconcile.ts";
import { reconcilerDepsFromEnvironment } from "./runtime.ts";

const deps = reconcilerDepsFromEnvironment();

/** The scheduled reconciler (EventBridge every few minutes in AWS, a timer under `npm start`). */
export const handler = async () => {
  const report = await reconcile(deps);
  return {
    ran: report.ran,
    failed: report.failed.length,
    requeued: report.requeued.length,
    waiting: report.waiting,
    truncated: report.truncated,
  };
};

import { existsSync } from "node:fs";
import { join } from "node:path";
import { Duration } from "aws-cdk-lib";
import { Bucket } from "aws-cdk-lib/aws-s3";
import { BucketDeployment, CacheControl, Source } from "aws-cdk-lib/aws-s3-deployment";
import { Construct, type IConstruct } from "constructs";
import { DASHBOARD_DIST } from "../web/build.ts";
import { DASHBOARD_CONFIG_PATH, type DashboardConfig } from "../web/src/dashboard-config.ts";
import { DASHBOARD_INDEX, type Storage } from "./storage.ts";

export interface DashboardProps {
  storage: Storage;
  /** Written as `/config.json` at deploy time: the API's URL and the user pool's ids are tokens until then. */
  config: DashboardConfig;
  /** The built dashboard. Default: `web/dist` (bin/app.ts builds it when it is missing or stale). */
  dist?: string;
}

/** Vite's `assetsDir` (web/vite.config.ts): content-hashed file names, so their bytes never change. */
const BUNDLE_DIR = "app";
const CONFIG_KEY = DASHBOARD_CONFIG_PATH.slice(1);

/**
 * Copies the built dashboard into the dashboard bucket with CDK's BucketDeployment (a Lambda with the AWS CLI
 * as a prebuilt layer: no Docker), in two passes so each file gets the right Cache-Control:
 *
 * - `app/*`, the hashed bundle: a year, immutable. Never pruned, so a browser still holding the previous
 *   `index.html` can load the bundle it names while a deploy is under way.
 * - everything else, `index.html` and `config.json` first: `no-cache`, so a deploy is seen at the next load;
 *   pruned (but for `app/`), and CloudFront's copies of the page and the configuration are invalidated.
 *
 * The pages pass runs after the bundle pass, so the new `index.html` never names a file not yet uploaded.
 */
export class Dashboard extends Construct {
  /** CDK's deployment function, shared by both passes (and any other BucketDeployment of the stack). */
  readonly handler: IConstruct;
  readonly bundle: BucketDeployment;
  readonly pages: BucketDeployment;

  constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);
    const dist = props.dist ?? DASHBOARD_DIST;
    if (!existsSync(join(dist, DASHBOARD_INDEX))) {
      throw new Error(
        `${dist} holds no ${DASHBOARD_INDEX}: run \`npm run web:build\` (npm run synth builds it)`,
      );
    }
    const { storage } = props;
    // By name, not the data stack's Bucket: the grant then reads the same in every stage and needs no export.
    const destinationBucket = Bucket.fromBucketName(this, "Destination", storage.dashboardBucketName);

    this.bundle = new BucketDeployment(this, "Bundle", {
      sources: [Source.asset(join(dist, BUNDLE_DIR))],
      destinationBucket,
      destinationKeyPrefix: `${BUNDLE_DIR}/`,
      prune: false,
      cacheControl: [
        CacheControl.setPublic(),
        CacheControl.maxAge(Duration.days(365)),
        CacheControl.immutable(),
      ],
    });

    this.pages = new BucketDeployment(this, "Pages", {
      sources: [Source.asset(dist), Source.jsonData(CONFIG_KEY, props.config)],
      destinationBucket,
      // Leaves the bundle to its own pass, both the upload and the pruning.
      exclude: [`${BUNDLE_DIR}/*`],
      cacheControl: [CacheControl.noCache()],
      distribution: storage.distribution,
      distributionPaths: [`/${DASHBOARD_INDEX}`, DASHBOARD_CONFIG_PATH],
    });
    this.pages.node.addDependency(this.bundle);
    const handler = this.pages.handlerRole.node.scope;
    if (!handler) throw new Error("BucketDeployment's role has no function above it");
    this.handler = handler;
  }
}

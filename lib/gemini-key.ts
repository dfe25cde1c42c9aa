import { RemovalPolicy } from "aws-cdk-lib";
import { Grant, type IGrantable } from "aws-cdk-lib/aws-iam";
import { type CfnSecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { ENV, GEMINI_SETTINGS, resourceName } from "../lambdas/names.ts";

/** The secret's deployed name is `pixel-lab-{stage}-gemini-api-key`. */
export const GEMINI_API_KEY_SECRET = "gemini-api-key";

/**
 * The Gemini step's optional tuning, as `-c` context keys of the same names as their `ENV` entries (e.g.
 * `-c geminiImageModel=…`); each unset one takes the runtime's default (`GEMINI_SETTINGS`, `lambdas/config.ts`).
 */
export const GEMINI_TUNING_KEYS = [
  "geminiAnalysisModel",
  "geminiImageModel",
  "geminiAiVariants",
  "geminiCallTimeoutMs",
  "geminiBudgetSeconds",
  "geminiConcurrency",
] as const satisfies readonly (keyof typeof ENV)[];

export type GeminiTuning = Partial<Record<(typeof GEMINI_TUNING_KEYS)[number], string>>;

/**
 * The worker's environment for the tuning given. The runtime validates every value at its cold start; the
 * budget is refused here too, at synth, because the worker's timeout (which the queue's visibility is derived
 * from) only has room for `GEMINI_SETTINGS.maxBudgetSeconds` beside a photo.
 */
export const geminiTuningEnvironment = (tuning: GeminiTuning = {}): Record<string, string> => {
  const budget = tuning.geminiBudgetSeconds;
  const seconds = Number(budget);
  if (
    budget !== undefined &&
    !(Number.isInteger(seconds) && seconds >= 1 && seconds <= GEMINI_SETTINGS.maxBudgetSeconds)
  ) {
    throw new Error(
      `geminiBudgetSeconds is ${budget}; it must be a whole number of seconds from 1 to ${GEMINI_SETTINGS.maxBudgetSeconds}, so the worker's timeout still fits a photo beside it`,
    );
  }
  return Object.fromEntries(
    GEMINI_TUNING_KEYS.flatMap((key) => (tuning[key] === undefined ? [] : [[ENV[key], tuning[key]]])),
  );
};

export interface GeminiKeyProps {
  stage: string;
}

/**
 * The Gemini API key, in a Secrets Manager secret that the stack creates empty and an operator fills:
 * `aws secretsmanager put-secret-value --secret-id pixel-lab-{stage}-gemini-api-key --secret-string '<key>'`
 * (the bare key, not JSON). Until then the secret has no version at all: GetSecretValue answers
 * ResourceNotFoundException and DescribeSecret lists no AWSCURRENT version, which is "not configured".
 *
 * aws-cdk-lib's `Secret` always asks CloudFormation to generate a value when given none, and the worker would
 * send that random string to Google as a key; CloudFormation itself creates an empty secret when the template
 * has neither `GenerateSecretString` nor `SecretString`, so the generator is removed from the template.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-secret.html
 *
 * It lives in the data stack and is retained: the operator's key is state, and survives the application stack
 * being torn down and redeployed. The default AWS-managed key encrypts it, so IAM alone decides who reads it:
 * the worker reads it (`grantRead`); the health function may only describe it (`grantDescribe`).
 */
export class GeminiKey extends Construct {
  readonly secret: Secret;

  constructor(scope: Construct, id: string, props: GeminiKeyProps) {
    super(scope, id);
    this.secret = new Secret(this, "Secret", {
      secretName: resourceName(props.stage, GEMINI_API_KEY_SECRET),
      description: `Pixel Lab ${props.stage}: the Gemini API key (Google AI Studio), read by the enhance worker. Empty until an operator runs: aws secretsmanager put-secret-value --secret-id ${resourceName(props.stage, GEMINI_API_KEY_SECRET)} --secret-string '<key>'`,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    (this.secret.node.defaultChild as CfnSecret).generateSecretString = undefined;
  }

  /** GetSecretValue (and DescribeSecret) on this secret: the worker, which sends the key to Gemini, alone. */
  grantRead(grantee: IGrantable): Grant {
    return this.secret.grantRead(grantee);
  }

  /** DescribeSecret alone: whether a value has been set (an AWSCURRENT version), never the value itself. */
  grantDescribe(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ["secretsmanager:DescribeSecret"],
      resourceArns: [this.secret.secretArn],
    });
  }
}

import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { z } from "zod";

/** A database user's secret as RDS and `DatabaseSecret` write it (host, port and engine are not needed here). */
const databaseSecretSchema = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
});

export interface DatabaseCredentials {
  username: string;
  password: string;
}

export const createSecretsManagerClient = (options: { region: string; endpoint?: string }) =>
  new SecretsManagerClient({ region: options.region, endpoint: options.endpoint });

/** Reads a database user's credentials from Secrets Manager; a secret of another shape is an error naming it. */
export const readDatabaseCredentials = async (
  client: SecretsManagerClient,
  secretArn: string,
): Promise<DatabaseCredentials> => {
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
  let json: unknown;
  try {
    json = JSON.parse(SecretString ?? "");
  } catch {
    throw new Error(`secret ${secretArn} is not JSON: a database secret holds {"username", "password", …}`);
  }
  const parsed = databaseSecretSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `secret ${secretArn} has no username and password: a database secret holds {"username", "password", …}`,
    );
  }
  return parsed.data;
};

import { Aws, Duration, RemovalPolicy, Stack, Token } from "aws-cdk-lib";
import {
  AccountRecovery,
  CfnManagedLoginBranding,
  FeaturePlan,
  ManagedLoginVersion,
  Mfa,
  OAuthScope,
  UserPool,
  type UserPoolClient,
  UserPoolClientIdentityProvider,
  type UserPoolDomain,
  UserPoolGroup,
} from "aws-cdk-lib/aws-cognito";
import { Construct } from "constructs";
import { resourceName, USER_GROUPS } from "../lambdas/names.ts";
import { CALLBACK_PATH } from "../web/src/dashboard-config.ts";

export interface IdentityProps {
  stage: string;
  /**
   * The dashboard's URLs (`https://host/`): managed login returns to each one's callback page
   * (`auth/callback`) after sign-in, and to the URL itself after sign-out. HTTPS, or `http://localhost` for a
   * dashboard run on a developer's machine.
   */
  dashboardUrls: string[];
}

/** What each group may do (DESIGN.md, "Who may do what"); the handlers enforce it on the verified token. */
const GROUP_DESCRIPTIONS: Record<keyof typeof USER_GROUPS, string> = {
  sellers: "Create products, upload their photos and see only their own products.",
  reviewers: "See every product and approve or reject those pending review.",
};

/**
 * The user pool the HTTP API's JWT authorizer trusts, its two groups (the API's roles), the dashboard's app
 * client and a Cognito domain for managed login.
 *
 * - Admins create every user (no self sign-up): sellers and reviewers are known people, not the public.
 * - Users sign in with their email address, not a separate user name: there is nothing else to remember,
 *   and the address is also the only recovery channel. Sign-in aliases and case sensitivity cannot be
 *   changed once the pool exists, so email, case-insensitive, is fixed here.
 * - MFA is required, with an authenticator app (TOTP) only: no SMS costs, no SIM-swap exposure, and
 *   managed login walks a new user through setting it up at first sign-in.
 * - Feature plan Essentials, not Plus: see the COG8 acknowledgment in `nag-acknowledgments.ts`.
 * - The pool holds the users, so it is retained and protected from deletion, as the database is.
 */
export class Identity extends Construct {
  readonly userPool: UserPool;
  readonly dashboardClient: UserPoolClient;
  readonly domain: UserPoolDomain;
  readonly groups: Record<keyof typeof USER_GROUPS, UserPoolGroup>;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    const refused = props.dashboardUrls.filter((url) => !acceptedReturnUrl(url));
    if (props.dashboardUrls.length === 0 || refused.length > 0) {
      throw new Error(
        `dashboardUrls must list the dashboard's https:// URLs (or http://localhost); refused: ${refused.join(", ") || "(none given)"}`,
      );
    }

    this.userPool = new UserPool(this, "UserPool", {
      userPoolName: resourceName(props.stage, "users"),
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FeaturePlan.ESSENTIALS,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.groups = {
      sellers: this.group("Sellers", "sellers"),
      reviewers: this.group("Reviewers", "reviewers"),
    };

    // A single-page app cannot keep a secret: a public client with the authorization-code grant and no implicit
    // grant. Cognito has no setting that makes PKCE mandatory; it verifies a code_challenge whenever the
    // authorization request carries one, so the dashboard must always send one (S256).
    this.dashboardClient = this.userPool.addClient("Dashboard", {
      userPoolClientName: resourceName(props.stage, "dashboard"),
      generateSecret: false,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE],
        // The dashboard's callback page alone receives codes; sign-out returns to the dashboard's root.
        callbackUrls: props.dashboardUrls.map(callbackUrl),
        logoutUrls: props.dashboardUrls,
      },
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
      enableTokenRevocation: true,
    });

    this.domain = this.userPool.addDomain("Domain", {
      cognitoDomain: { domainPrefix: loginDomainPrefix(props.stage) },
      managedLoginVersion: ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    });
    // Managed login shows no page for a client without a branding style: Cognito's own look will do.
    new CfnManagedLoginBranding(this, "DashboardBranding", {
      userPoolId: this.userPool.userPoolId,
      clientId: this.dashboardClient.userPoolClientId,
      useCognitoProvidedValues: true,
    });
  }

  /**
   * The tokens' issuer, `https://cognito-idp.<region>.amazonaws.com/<userPoolId>`: the dashboard's OpenID
   * Connect authority (config.json). Built rather than read from the pool's `ProviderURL` attribute, so the
   * value is the same shape whether the stack's region is known at synth or only at deploy.
   */
  get issuerUrl(): string {
    const stack = Stack.of(this);
    return `https://cognito-idp.${stack.region}.${stack.urlSuffix}/${this.userPool.userPoolId}`;
  }

  /** The managed login's base URL, e.g. `https://pixel-lab-dev-login-123456789012.auth.eu-west-1.amazoncognito.com`. */
  get domainUrl(): string {
    return this.domain.baseUrl();
  }

  private group(id: string, key: keyof typeof USER_GROUPS): UserPoolGroup {
    return new UserPoolGroup(this, id, {
      userPool: this.userPool,
      groupName: USER_GROUPS[key],
      description: GROUP_DESCRIPTIONS[key],
    });
  }
}

/** Prefixes are unique per region across all accounts: the account id keeps two accounts' stages apart. */
const loginDomainPrefix = (stage: string): string => `${resourceName(stage, "login")}-${Aws.ACCOUNT_ID}`;

/**
 * Managed login's base URL, as the domain's `baseUrl()` spells it, known before the user pool exists: the
 * dashboard's content security policy (on the distribution, made before the pool) lets the page reach it.
 */
export const loginBaseUrl = (stage: string): string =>
  `https://${loginDomainPrefix(stage)}.auth.${Aws.REGION}.amazoncognito.com`;

/** The dashboard's callback page under one of its URLs (with or without its trailing slash). */
export const callbackUrl = (dashboardUrl: string): string =>
  `${dashboardUrl.endsWith("/") ? dashboardUrl.slice(0, -1) : dashboardUrl}${CALLBACK_PATH}`;

/** Cognito accepts HTTPS return URLs, and plain HTTP only for localhost. */
const acceptedReturnUrl = (url: string): boolean => {
  if (Token.isUnresolved(url)) return true;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || (parsed.protocol === "http:" && parsed.hostname === "localhost");
  } catch {
    return false;
  }
};

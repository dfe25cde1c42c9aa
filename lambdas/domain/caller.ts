import { AppError } from "./errors.ts";

/** What a signed-in user may be; a user may hold both roles. */
export type Role = "seller" | "reviewer";

/** The verified identity of whoever made the request: a token's subject and the roles its groups grant. */
export interface Caller {
  /** The token's `sub`: the seller id products are owned by. */
  id: string;
  /** For people reading the history: the token's `username`, or the subject when it has none. */
  name: string;
  roles: ReadonlySet<Role>;
  /** When the token expires (its `exp`): a push connection it opened gets nothing after that. */
  expiresAt?: Date | undefined;
}

export const isReviewer = (caller: Caller): boolean => caller.roles.has("reviewer");
export const isSeller = (caller: Caller): boolean => caller.roles.has("seller");

const ROLE_GROUP: Record<Role, string> = { seller: "sellers", reviewer: "reviewers" };

/** Refuses a caller without the role, naming the group that grants it. */
export const requireRole = (caller: Caller, role: Role, action: string): void => {
  if (!caller.roles.has(role)) {
    throw new AppError(
      "FORBIDDEN",
      `only ${role}s may ${action}: the signed-in user is not in the ${ROLE_GROUP[role]} group`,
    );
  }
};

/** A product this caller may read: the seller's own, or any product for a reviewer. */
export const canRead = (caller: Caller, product: { sellerId: string }): boolean =>
  isReviewer(caller) || product.sellerId === caller.id;

// Redis key and channel names shared by the roles, in one place so they never drift apart.
export const CHANNELS = {
  /** a user was added, disabled, enabled or changed password: proxies drop cached credentials */
  usersChanged: 'fairwatch:users-changed',
  /** lists or rules changed: proxies reload their policy snapshot */
  policyReload: 'fairwatch:policy-reload',
  /** an exception was approved, revoked or expired */
  exceptionsChanged: 'fairwatch:exceptions-changed',
} as const;

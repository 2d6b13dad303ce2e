// What a person is told for each stable error code (docs/protocol.md, Errors).

const TEXTS = {
  RATE_LIMITED: (e) => `Slow down: too many at once. Try again in ${Math.max(1, Math.ceil(e.retryAfterMs / 1000))} s.`,
  TOO_LARGE: () => "That message is too long (at most 100,000 characters).",
  NOT_MEMBER: () => "You are not a member of this conversation.",
  NOT_FOUND: (e) => `Not found: ${e.message}`,
  PERMISSION_DENIED: (e) => `Not allowed: ${e.message}`,
  LIMIT_EXCEEDED: (e) => `Limit reached: ${e.message}`,
  CONFLICT: (e) => `Already taken: ${e.message}`,
  INVALID_ARGUMENT: (e) => `Not accepted: ${e.message}`,
  UNAVAILABLE: () => "The server is unavailable; trying again.",
  UNAUTHENTICATED: () => "Please log in again.",
};

const LOGIN_TEXTS = {
  UNAUTHENTICATED: () => "Wrong user id or password.",
  CONFLICT: () => "That user id is taken.",
  RATE_LIMITED: TEXTS.RATE_LIMITED,
  INVALID_ARGUMENT: (e) => e.message,
  UNAVAILABLE: () => "The server is unavailable; try again in a moment.",
};

export function errorText(error, context = "chat") {
  const table = context === "login" ? LOGIN_TEXTS : TEXTS;
  const text = table[error.code] || TEXTS[error.code];
  return text ? text(error) : `Something went wrong (${error.code || "error"}): ${error.message}`;
}

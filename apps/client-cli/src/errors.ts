/**
 * CLI error classes. A `UserError` is a problem the user can fix: its message is printed as-is and
 * the process exits 1. A `UsageError` prints the command's help and exits 2. Anything else is a bug:
 * a short message, and the stack only with `--debug`.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  /** How to fix it, printed on its own line after the message. */
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_USER_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_BUG = 70;

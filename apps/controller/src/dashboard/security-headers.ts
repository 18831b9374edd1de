/**
 * Response headers of every dashboard page, asset and session answer.
 *
 * The Content-Security-Policy allows scripts, styles and fetches from this origin only: no inline
 * script or style, no eval, no plugins, no framing, no foreign form targets. Trusted Types are
 * required with no policy allowed, so even a bug that hands a string to `innerHTML` or
 * `document.write` throws in the browser instead of parsing markup (the dashboard builds its DOM
 * with `textContent` only; uPlot does too).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

export function securityHeaders(production: boolean): Record<string, string> {
  return {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
    // Only in production: a dev controller on localhost with a self-signed certificate must not pin
    // HTTPS onto every other local service of the browser.
    ...(production ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

/** Log-in form. On success the browser loads the requested page (the server checks it again). */
import { ApiError, session } from '../api.js';
import { h } from '../dom.js';

/** Only same-site dashboard paths are followed after log-in (no open redirect). */
export function safeNext(raw: string | null): string {
  if (
    raw &&
    /^\/admin(\/[A-Za-z0-9/_.-]*)?(\?[A-Za-z0-9=&%_.:+-]*)?$/.test(raw) &&
    !raw.startsWith('/admin/login')
  )
    return raw;
  return '/admin';
}

export function loginView(query: URLSearchParams): HTMLElement {
  const email = h('input', {
    type: 'email',
    name: 'email',
    autocomplete: 'username',
    required: true,
    maxlength: 254,
  });
  const password = h('input', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
    maxlength: 1024,
  });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login-form',
      novalidate: false,
      on: {
        submit: (ev) => {
          ev.preventDefault();
          error.textContent = '';
          submit.disabled = true;
          session.login(email.value.trim(), password.value).then(
            () => location.assign(safeNext(query.get('next'))),
            (e: unknown) => {
              submit.disabled = false;
              password.value = '';
              if (e instanceof ApiError && e.status === 403 && e.code === 'CORRIDOR_ERR_FORBIDDEN')
                error.textContent = 'This account is not an administrator. The dashboard is for admins only.';
              else if (e instanceof ApiError && e.status === 429)
                error.textContent = `Too many attempts. Try again in ${e.retryAfterS ?? 60} s.`;
              else if (e instanceof ApiError && e.status === 401)
                error.textContent = 'Wrong e-mail or password.';
              else error.textContent = e instanceof Error ? e.message : String(e);
              password.focus();
            },
          );
        },
      },
    },
    h('label', { class: 'field' }, h('span', null, 'E-mail'), email),
    h('label', { class: 'field' }, h('span', null, 'Password'), password),
    error,
    submit,
  );
  queueMicrotask(() => email.focus());
  return h(
    'main',
    { id: 'main', class: 'login', tabindex: -1 },
    h(
      'div',
      { class: 'card login-card' },
      h('h1', null, 'Corridor admin'),
      h('p', { class: 'hint' }, 'Log in with an administrator account.'),
      form,
    ),
  );
}

/** Shared view plumbing: the view contract, confirmation dialogs, notices, emails of user ids. */
import { admin, type SessionInfo } from './api.js';
import { h, type Child } from './dom.js';
import { shortId } from './format.js';

export interface ViewContext {
  params: Record<string, string>;
  query: URLSearchParams;
  me: SessionInfo;
  navigate(path: string, opts?: { replace?: boolean }): void;
  /** Records the view's filters in the address (no reload, no re-render: focus and input stay). */
  setQuery(query: URLSearchParams): void;
  notify(message: string, kind?: 'ok' | 'error'): void;
  /** Ask the shell to refresh sooner for a while (after an action whose effects arrive shortly). */
  hurry(): void;
}

export interface View {
  title: string;
  el: HTMLElement;
  /** Re-reads live data in place (keeps focus and form state); called by the shell's timer. */
  refresh?(): Promise<void>;
  refreshMs?: number;
  dispose?(): void;
}

/**
 * A modal confirmation (native <dialog>: focus moves into it, Tab stays inside, Escape cancels).
 * Cancel has the focus first, so Enter alone never confirms a destructive action.
 */
export function confirmDialog(opts: {
  title: string;
  message: Child;
  confirmLabel: string;
  askReason?: boolean;
}): Promise<{ confirmed: boolean; reason?: string }> {
  return new Promise((resolve) => {
    const reason = h('input', { type: 'text', name: 'reason', maxlength: 256, autocomplete: 'off' });
    const cancel = h('button', { type: 'submit', value: 'cancel', class: 'btn' }, 'Cancel');
    const ok = h('button', { type: 'submit', value: 'confirm', class: 'btn btn-danger' }, opts.confirmLabel);
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dialog = h(
      'dialog',
      { 'aria-labelledby': titleId, class: 'dialog' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: titleId }, opts.title),
        h('div', { class: 'dialog-body' }, opts.message),
        opts.askReason
          ? h(
              'label',
              { class: 'field' },
              h('span', null, 'Reason (kept in the audit log, optional)'),
              reason,
            )
          : null,
        h('div', { class: 'dialog-actions' }, cancel, ok),
      ),
    );
    dialog.addEventListener('close', () => {
      const confirmed = dialog.returnValue === 'confirm';
      const r = reason.value.trim();
      dialog.remove();
      resolve({ confirmed, ...(confirmed && r ? { reason: r } : {}) });
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

const emails = new Map<string, string>();

/** Learns the e-mails of the given user ids (one request per 200 unknown ids). */
export async function resolveEmails(ids: Iterable<string | null | undefined>): Promise<void> {
  const missing = [
    ...new Set([...ids].filter((id): id is string => !!id && /^[0-9a-f-]{36}$/i.test(id) && !emails.has(id))),
  ];
  for (let i = 0; i < missing.length; i += 200) {
    const chunk = missing.slice(i, i + 200);
    const res = await admin<{ items: { id: string; email: string }[] }>('GET', '/user-emails', {
      ids: chunk.join(','),
    });
    for (const u of res.items) emails.set(u.id, u.email);
    for (const id of chunk) if (!emails.has(id)) emails.set(id, `deleted user ${shortId(id)}`);
  }
}

export function rememberEmail(id: string, email: string): void {
  emails.set(id, email);
}

export function emailOf(id: string): string {
  return emails.get(id) ?? shortId(id);
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', null, title), ...children);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Orders overlapping loads of one list (typing, filters, the live timer): only the answer to the
 * latest request is drawn, so a slow older answer never replaces a newer one.
 */
export function latestOnly(): { begin(): number; current(ticket: number): boolean } {
  let last = 0;
  return { begin: () => ++last, current: (ticket) => ticket === last };
}

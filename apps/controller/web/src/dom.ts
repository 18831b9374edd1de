/**
 * The dashboard's only way to build DOM. Text always goes in as text nodes (escaped by the browser,
 * never parsed as markup); attributes go through setAttribute with a deny-list of the ones that
 * could run code or restyle (`on*`, `style`, `srcdoc`); events are attached as functions. The page's
 * CSP requires Trusted Types with no policy, so any stray `innerHTML = string` would throw anyway.
 */
export type Child = Node | string | number | null | undefined | false | readonly Child[];

export interface Attrs {
  [name: string]: string | number | boolean | undefined | null | Listeners;
}

type Listeners = { [K in keyof HTMLElementEventMap]?: (ev: HTMLElementEventMap[K]) => void };

const FORBIDDEN_ATTR = /^(on|style$|srcdoc$|formaction$)/i;

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, ...(c as Child[]));
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

/** `h('a', { href: '/admin/users', on: { click } }, 'Users')`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (name === 'on') {
      for (const [ev, fn] of Object.entries(value as Listeners)) el.addEventListener(ev, fn as EventListener);
      continue;
    }
    if (FORBIDDEN_ATTR.test(name)) throw new Error(`attribute ${name} is not allowed`);
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
}

/** Replaces all children of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** A link inside the dashboard (the router handles it without a reload). */
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href, 'data-nav': true }, ...children);
}

/** A data table whose cells carry their column label (phones show rows as labelled cards). */
export function table<T>(
  caption: string,
  columns: { label: string; cell: (row: T) => Child; numeric?: boolean }[],
  rows: readonly T[],
  empty: string,
): HTMLElement {
  const head = h(
    'tr',
    null,
    columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.label)),
  );
  const body = rows.length
    ? rows.map((r) =>
        h(
          'tr',
          null,
          columns.map((c) => h('td', { 'data-label': c.label, class: c.numeric ? 'num' : null }, c.cell(r))),
        ),
      )
    : [h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, empty))];
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data' },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', null, head),
      h('tbody', null, body),
    ),
  );
}

export function badge(text: string, kind: 'ok' | 'warn' | 'bad' | 'muted'): HTMLElement {
  return h('span', { class: `badge badge-${kind}` }, text);
}

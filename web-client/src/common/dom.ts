// A tiny element builder and the shared status line; no framework.

type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined | null>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (k === 'class') {
      el.className = String(v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el;
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren(...children.filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : String(c))));
}

/** Show a plain message in a polite live region (`kind` styles it). */
export function say(el: HTMLElement, text: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = text === '';
}

/** A button that copies `value()` to the clipboard and says so. */
export function copyButton(label: string, value: () => string): HTMLButtonElement {
  const b = h('button', { type: 'button', 'aria-label': label }, 'Copy');
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value());
      b.textContent = 'Copied';
    } catch {
      b.textContent = 'Select and copy manually';
    }
    setTimeout(() => (b.textContent = 'Copy'), 1500);
  });
  return b;
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

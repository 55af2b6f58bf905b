// The REST side of the commerce API (docs/commerce.md): one fetch wrapper that turns
// `{"error": {"code", "message"}}` answers into an ApiError the pages can show as-is.

/** A refused or failed request; `code` is the server's error code (e.g. `banned`, `slow_mode`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The stream id from `/watch/{id}`, `/studio/{id}` or `/moderate/{id}`. */
export function streamIdFromPath(pathname: string): string | null {
  const m = /^\/(?:watch|studio|moderate)\/([^/?#]+)\/?$/.exec(pathname);
  return m ? decodeURIComponent(m[1]) : null;
}

/** API origin: same origin, or `?api=http://127.0.0.1:port` while developing against `vite`. */
export function apiBase(loc: Location = location): string {
  const q = new URLSearchParams(loc.search).get('api');
  return (q ?? loc.origin).replace(/\/+$/, '');
}

export interface RequestOpts {
  method?: string;
  body?: unknown;
  token?: string | null;
  headers?: Record<string, string>;
}

export class Api {
  constructor(
    readonly base: string,
    public token: string | null = null,
  ) {}

  url(path: string): string {
    return this.base + path;
  }

  async call<T = any>(path: string, opts: RequestOpts = {}): Promise<T> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await fetch(this.url(path), { method: opts.method ?? 'GET', headers, body });
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach the server (${String(e)})`);
    }
    const text = await res.text();
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const err = json?.error;
      throw new ApiError(
        res.status,
        err?.code ?? `http_${res.status}`,
        err?.message ?? (text.trim() || res.statusText || `HTTP ${res.status}`),
      );
    }
    return json as T;
  }

  stream(id: string): string {
    return `/api/v1/streams/${encodeURIComponent(id)}`;
  }
}

/** A fresh Idempotency-Key for one purchase attempt (reused on retries of that attempt). */
export function idempotencyKey(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID();
  return `k-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/** `1999, "EUR"` → `€19.99`. */
export function money(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

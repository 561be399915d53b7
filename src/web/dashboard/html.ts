/**
 * HTML building for the dashboard: one escaping function every interpolated value goes
 * through, the page layout (navigation, the stylesheet and script links, no inline script
 * or style, so the CSP can forbid them), and the headers every page carries. Pure: no I/O.
 */

/** Escapes text for HTML text and double-quoted attribute values. */
export function esc(value: string | number | boolean | null | undefined): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A value trusted as HTML: built here from escaped parts. */
export interface Html {
  readonly html: string;
}

export const raw = (html: string): Html => ({ html });

/** Tagged template: interpolations are escaped unless they are Html (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return { html: out };
}

function render(value: unknown): string {
  if (Array.isArray(value)) return value.map(render).join('');
  if (value && typeof value === 'object' && 'html' in value) return (value as Html).html;
  if (value === undefined || value === null || value === false) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return esc(value);
  return esc(JSON.stringify(value));
}

/** The Content-Security-Policy of every answer: own scripts and styles only, no inline. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function securityHeaders(type: string): Headers {
  return new Headers({
    'Content-Type': type,
    'Content-Security-Policy': CSP,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'X-Frame-Options': 'DENY',
  });
}

export const PAGES = [
  ['', 'Overview'],
  ['/tasks', 'Tasks'],
  ['/queues', 'Queues'],
  ['/workers', 'Workers'],
  ['/flow', 'Flow'],
  ['/schedules', 'Schedules'],
  ['/dead-letters', 'Dead letters'],
] as const;

/** The element holding a page's body, which a live page's stream replaces whole. */
export const PAGE_BODY_ID = 'page-body';

export function layout(
  prefix: string,
  current: string,
  title: string,
  body: Html,
  options: { live?: string | undefined; readOnly: boolean },
): string {
  const nav = PAGES.map(
    ([path, label]) =>
      html`<a href="${prefix}${path || '/'}" ${raw(current === path ? ' aria-current="page"' : '')}
        >${label}</a
      >`,
  );
  return `<!doctype html>${
    html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Celeriac</title><link rel="stylesheet" href="${prefix}/assets/dashboard.css">
<script src="${prefix}/assets/dashboard.js" defer></script></head>
<body${raw(options.live ? ` data-live="${esc(options.live)}"` : '')}><header><strong>Celeriac</strong><nav>${nav}</nav>${
      options.readOnly ? html`<span class="badge">read-only</span>` : ''
    }<span id="live-status" class="live-status" hidden>live</span></header><main><h1>${title}</h1><div id="${PAGE_BODY_ID}">${body}</div></main></body></html>`
      .html
  }`;
}

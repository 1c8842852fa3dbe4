import { useEffect, useRef, useState, type ReactNode } from 'react';
import { errorText } from './api';

/** Status as a labelled badge (colour is never the only cue: the text is the status). */
export function Status({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status}</span>;
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const pct = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
    >
      <div className="progress-fill" style={{ width: `${pct}%` }} />
      <span className="progress-text">{pct} %</span>
    </div>
  );
}

/** JSON as a collapsible block (native details/summary: keyboard and screen readers for free). */
export function JsonView({ title, value, open = true }: { title: string; value: unknown; open?: boolean }) {
  return (
    <details className="json" open={open}>
      <summary>{title}</summary>
      <pre tabIndex={0}>{value === undefined ? '—' : JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  return (
    <p className="error" role="alert">
      {errorText(error)}
    </p>
  );
}

export function Page({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ReactNode;
  children: ReactNode;
}) {
  useEffect(() => {
    document.title = `${title} · Switchyard`;
  }, [title]);
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-head">
        <h1 id="page-title">{title}</h1>
        <div className="actions">{actions}</div>
      </header>
      {children}
    </section>
  );
}

/**
 * Loads `load()` now and every `intervalMs` (while the tab is visible); the last good value stays
 * on screen while the next one loads, so nothing jumps.
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[] = []) {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stopped = false;
    const run = async () => {
      if (document.visibilityState === 'hidden') return;
      try {
        const next = await loadRef.current();
        if (!stopped) {
          setValue(next);
          setError(null);
        }
      } catch (e) {
        if (!stopped) setError(e);
      }
    };
    void run();
    const timer = intervalMs > 0 ? setInterval(() => void run(), intervalMs) : undefined;
    return () => {
      stopped = true;
      if (timer) clearInterval(timer);
    };
  }, [intervalMs, tick, ...deps]);
  return { value, error, reload: () => setTick((t) => t + 1) };
}

/** A confirmation in a modal <dialog> (focus trapped, Escape cancels). */
export function Confirm({
  open,
  title,
  children,
  confirmLabel,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={onCancel}>
      <h2 id="confirm-title">{title}</h2>
      <div>{children}</div>
      <div className="actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return `${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 19)}`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

/** A small line chart of the last values (SVG, fixed size: no layout shift as data arrives). */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  const width = 240;
  const height = 48;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map(
    (v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * (height - 4) - 2).toFixed(1)}`,
  );
  return (
    <svg
      className="spark"
      width={width}
      height={height}
      role="img"
      aria-label={label}
      viewBox={`0 0 ${width} ${height}`}
    >
      <polyline fill="none" stroke="currentColor" strokeWidth="2" points={points.join(' ')} />
    </svg>
  );
}

/** A text field of a submitted form, trimmed ('' when absent). */
export function field(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value.trim() : '';
}

/** A button in a table row: its visible label, and the row's subject for screen readers. */
export function RowButton({
  label,
  subject,
  onClick,
  danger = false,
}: {
  label: string;
  subject: string;
  onClick: () => void;
  danger?: boolean;
}) {
  return (
    <button type="button" className={danger ? 'danger' : undefined} onClick={onClick}>
      {label}
      <span className="sr-only"> {subject}</span>
    </button>
  );
}

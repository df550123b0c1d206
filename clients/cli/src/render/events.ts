import * as commonv1 from '@banger/api/common';
import { enumLabel, formatDuration } from './format.js';
import type { OutStream, Style } from './output.js';

type CommonBody =
  | { $case: 'accepted'; value: commonv1.Accepted }
  | { $case: 'stageStarted'; value: commonv1.StageStarted }
  | { $case: 'stageFinished'; value: commonv1.StageFinished }
  | { $case: 'progress'; value: commonv1.Progress }
  | { $case: 'logLine'; value: commonv1.LogLine }
  | { $case: 'failure'; value: commonv1.Failure };

/** The final success body of a stream (`vm`, `snapshot`, `fork`, `image`, `kernel`), rendered by the command. */
export interface ResultBody {
  $case: 'vm' | 'snapshot' | 'fork' | 'image' | 'kernel';
  value: unknown;
}

/** What vmv1/imagev1 OperationEvents have in common: one renderer serves every stream. */
export interface StreamEvent {
  opId: string;
  seq: number;
  time?: Date | undefined;
  body?: CommonBody | ResultBody | undefined;
}

export interface EventRendererOptions {
  out: OutStream;
  style: Style;
  /** Redraw a spinner line in place (TTY); otherwise print plain lines. */
  live: boolean;
  onResult: (result: ResultBody, elapsedMs: number) => void;
  now?: () => number;
  /** Spinner animation between events (off in tests). */
  animate?: boolean;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const STAGE_WIDTH = 10;

const VERBS: Record<string, string> = {
  VM_CREATE: 'creating vm',
  VM_START: 'starting vm',
  VM_STOP: 'stopping vm',
  VM_RESTART: 'restarting vm',
  VM_DELETE: 'deleting vm',
  VM_RESIZE_WORK_DISK: 'resizing work disk of vm',
  VM_FORK: 'forking vm',
  IMAGE_BUILD: 'building image',
  IMAGE_PROMOTE: 'promoting image',
  KERNEL_PULL: 'pulling kernel',
};

export function describeKind(kind: commonv1.OperationKind): string {
  const key = commonv1.operationKindToJSON(kind).replace(/^OPERATION_KIND_/, '');
  return VERBS[key] ?? enumLabel(key, '');
}

function progressText(p: commonv1.Progress): string {
  const unit = p.unit && p.unit !== 'steps' ? ` ${p.unit}` : '';
  const amount = p.total > 0 ? `${Math.floor((p.done * 100) / p.total)}% (${p.done}/${p.total}${unit})` : `${p.done}${unit}`;
  return p.message ? `${amount} ${p.message}` : amount;
}

interface ActiveStage {
  name: string;
  description: string;
  startedAt: number;
  progress?: string;
}

/**
 * Renders an operation event stream for people: the op id line, one line per finished stage
 * with its duration, progress, log lines, the failure with its console tail, and the result.
 * On a TTY the running stage is a spinner line redrawn in place; elsewhere plain lines.
 */
export class EventRenderer {
  private active: ActiveStage | undefined;
  private frame = 0;
  private drawn = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private firstAt: number | undefined;
  private lastProgressKey = '';
  private lastProgressAt = 0;
  readonly now: () => number;
  failed: commonv1.Failure | undefined;
  finished = false;

  constructor(private readonly options: EventRendererOptions) {
    this.now = options.now ?? Date.now;
    if (options.live && options.animate !== false) {
      this.timer = setInterval(() => this.redraw(), 100);
      this.timer.unref();
    }
  }

  handle(ev: StreamEvent): void {
    const body = ev.body;
    if (!body) return;
    this.firstAt ??= ev.time?.getTime() ?? this.now();
    const { style } = this.options;
    switch (body.$case) {
      case 'accepted':
        this.print(`${style.bold(body.value.opId || ev.opId)} ${describeKind(body.value.kind)} ${body.value.target}`);
        break;
      case 'stageStarted': {
        const v = body.value;
        this.active = { name: v.stage, description: v.description, startedAt: this.now() };
        if (this.options.live) this.redraw();
        else this.print(style.dim(`· ${v.stage.padEnd(STAGE_WIDTH)} ${v.description}`.trimEnd()));
        break;
      }
      case 'stageFinished': {
        const v = body.value;
        if (this.active?.name === v.stage) this.active = undefined;
        const mark = !v.ok ? style.red('✗') : v.skipped ? style.yellow('-') : style.green('✓');
        const time = v.skipped ? 'skipped' : formatDuration(v.durationMs);
        this.print(`${mark} ${v.stage.padEnd(STAGE_WIDTH)} ${time.padStart(6)}${v.message ? `  ${v.message}` : ''}`);
        break;
      }
      case 'progress':
        this.progress(body.value);
        break;
      case 'logLine': {
        const v = body.value;
        const bar = v.stream === commonv1.LogStream.LOG_STREAM_STDERR ? style.yellow('│') : style.dim('│');
        this.print(`  ${bar} ${v.line}`);
        break;
      }
      case 'failure':
        this.failure(body.value);
        break;
      default:
        this.finished = true;
        this.clearLine();
        this.options.onResult(body, this.now() - (this.firstAt ?? this.now()));
        break;
    }
  }

  private progress(p: commonv1.Progress): void {
    const text = progressText(p);
    if (this.options.live) {
      if (this.active) this.active.progress = text;
      this.redraw();
      return;
    }
    const key = p.total > 0 ? `${p.stage}:${Math.floor((p.done * 10) / p.total)}` : `${p.stage}:${p.message}`;
    const due = p.total === 0 && this.now() - this.lastProgressAt >= 1000;
    if (key === this.lastProgressKey && !due) return;
    this.lastProgressKey = key;
    this.lastProgressAt = this.now();
    this.print(this.options.style.dim(`  ${p.stage}: ${text}`));
  }

  private failure(f: commonv1.Failure): void {
    this.failed = f;
    this.finished = true;
    const { style } = this.options;
    const where = f.stage ? ` at ${f.stage}` : '';
    const reason = f.reason ? ` [${f.reason}]` : '';
    this.print(style.red(`✗ failed${where}: ${f.message}${reason}${f.opId ? ` (${f.opId})` : ''}`));
    if (f.consoleTail.length > 0) {
      this.print(`  console (last ${f.consoleTail.length} lines):`);
      for (const line of f.consoleTail) this.print(`    ${style.dim('│')} ${line}`);
    }
    const list = (rs: commonv1.Resource[]) => rs.map((r) => `${r.kind} ${r.id}`).join(', ');
    if (f.rolledBack.length > 0) this.print(`  rolled back: ${list(f.rolledBack)}`);
    if (f.leftovers.length > 0) this.print(style.yellow(`  leftovers needing cleanup: ${list(f.leftovers)}`));
  }

  /** Prints a line above the spinner (or plainly), keeping the spinner at the bottom. */
  print(line: string): void {
    this.clearLine();
    this.options.out.write(`${line}\n`);
    if (this.options.live && this.active) this.redraw();
  }

  private clearLine(): void {
    if (this.drawn) this.options.out.write('\r\x1b[2K');
    this.drawn = false;
  }

  private redraw(): void {
    const a = this.active;
    if (!this.options.live || !a) return;
    this.frame = (this.frame + 1) % SPINNER.length;
    const elapsed = formatDuration(this.now() - a.startedAt);
    const extra = a.progress ? `  ${a.progress}` : '';
    this.clearLine();
    this.options.out.write(`${SPINNER[this.frame] ?? ''} ${a.name.padEnd(STAGE_WIDTH)} ${elapsed.padStart(6)}  ${a.description}${extra}`);
    this.drawn = true;
  }

  /** Stops the spinner and leaves the cursor on a clean line. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearLine();
    this.active = undefined;
  }
}

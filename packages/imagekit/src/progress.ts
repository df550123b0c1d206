/** A progress event: streamed to clients by imaged's BuildImage / PullKernel RPCs. */
export interface ProgressEvent {
  stage: string;
  done: number;
  total: number;
  detail?: string;
}

export type ProgressFn = (event: ProgressEvent) => void;

import type { BenchOptions, BenchStack } from '../harness';

/** One line of the results table: a SPEC §10 measure (or a supporting figure) beside its target. */
export interface Row {
  measure: string;
  value: number | string;
  unit: string;
  /** The SPEC §10 target, or '' for supporting figures. */
  target: string;
  /** true = meets the target, false = misses it, null = no target or not measured. */
  pass: boolean | null;
}

export interface ScenarioResult {
  name: string;
  rows: Row[];
  details: Record<string, unknown>;
}

export interface ScenarioContext {
  options: BenchOptions;
  /** A running stack (all four services) shared by the scenarios that do not need their own. */
  stack: () => Promise<BenchStack>;
  /** Progress lines on stderr, so that stdout holds the table only. */
  log: (message: string) => void;
}

export const atLeast = (value: number, target: number): boolean => value >= target;
export const atMost = (value: number, target: number): boolean => value <= target;

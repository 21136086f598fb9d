// KVPilot's extensions to the OpenAI API, typed once so that the official SDK's own types accept and return them
// (docs/api.md, "KV compression"). Nothing here changes how the SDK sends: it posts the params object as JSON, extra
// fields included.
import type OpenAI from "openai";

/** `kv_compression` of a request: the controller decides (`auto`), none (`off`), or one explicit setting. */
export type KvCompression =
  | "auto"
  | "off"
  | { auto: { min_quality?: number; slo_class?: string; task?: string } }
  | { method: string; ratio?: number; bits?: 16 | 8 | 4 | 2 };

/** `usage.kv_cache` of an answer: what the request's KV cache held at its end. */
export interface KvCache {
  method: string;
  ratio: number;
  bits: number;
  bytes: number;
  bytes_uncompressed: number;
  decided_by: "request" | "default" | "controller" | "mixed";
  predicted_quality?: number;
}

/** The SDK's usage type plus `kv_cache`. */
export type KvPilotUsage = OpenAI.CompletionUsage & { kv_cache?: KvCache };

/** Adds `kv_compression` to any of the SDK's request param types. */
export type WithKvCompression<P> = P & { kv_compression?: KvCompression };

/** The usage of an answer, with `kv_cache` typed (a cast: the SDK's type does not declare it, the JSON carries it). */
export function kvPilotUsage(usage: OpenAI.CompletionUsage | null | undefined): KvPilotUsage | undefined {
  return usage ?? undefined;
}

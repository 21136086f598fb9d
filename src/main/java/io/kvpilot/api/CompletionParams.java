package io.kvpilot.api;

import io.kvpilot.engine.SamplingParams;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.policy.AutoCompression;

/**
 * The validated parameters both completion endpoints share.
 *
 * @param model requested model id, or null for the served one
 * @param sampling sampling parameters ({@code max_tokens} not yet clamped to the context window)
 * @param stream whether to answer with SSE
 * @param includeUsage {@code stream_options.include_usage}
 * @param compression the KV compression chosen for the request
 * @param decidedBy {@code request} or {@code default}
 * @param auto the request's {@code auto} constraints when the controller decides its compression, else null
 */
record CompletionParams(
        String model,
        SamplingParams sampling,
        boolean stream,
        boolean includeUsage,
        KvCompressionSpec compression,
        String decidedBy,
        AutoCompression auto) {}

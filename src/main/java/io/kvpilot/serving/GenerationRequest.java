package io.kvpilot.serving;

import io.kvpilot.engine.SamplingParams;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.Objects;

/**
 * One validated generation request as the scheduler sees it: token ids, sampling, and the compression chosen for it.
 *
 * @param promptIds the prompt's token ids (chat template already applied)
 * @param sampling how tokens are chosen; {@code maxTokens} is clamped to the context window on submit
 * @param compression the KV compression this sequence's cache gets
 * @param decidedBy who chose {@code compression}: {@code request}, {@code default} or {@code controller}
 */
public record GenerationRequest(
        int[] promptIds, SamplingParams sampling, KvCompressionSpec compression, String decidedBy) {

    public GenerationRequest {
        promptIds = promptIds.clone();
        Objects.requireNonNull(sampling, "sampling");
        Objects.requireNonNull(compression, "compression");
        Objects.requireNonNull(decidedBy, "decidedBy");
    }

    GenerationRequest withSampling(SamplingParams other) {
        return new GenerationRequest(promptIds, other, compression, decidedBy);
    }
}

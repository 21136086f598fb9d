package io.kvpilot.serving;

import io.kvpilot.engine.SamplingParams;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.policy.AutoCompression;
import java.util.Objects;

/**
 * One validated generation request as the scheduler sees it: token ids, sampling, and the compression chosen for it.
 *
 * @param promptIds the prompt's token ids (chat template already applied)
 * @param sampling how tokens are chosen; {@code maxTokens} is clamped to the context window on submit
 * @param compression the KV compression this sequence's cache gets (for an {@code auto} request: what it gets when no
 *     controller runs)
 * @param decidedBy who chose {@code compression}: {@code request}, {@code default} or {@code controller}
 * @param auto the request's {@code auto} constraints when the controller is to decide at admission, else null
 * @param inspect whether its last event's usage carries a {@link Usage.KvInspection} (what the cache kept, and the
 *     controller's decision): the KV inspector's requests
 */
public record GenerationRequest(
        int[] promptIds, SamplingParams sampling, KvCompressionSpec compression, String decidedBy,
        AutoCompression auto, boolean inspect) {

    /** A request whose compression is fixed (by the caller or the static default). */
    public GenerationRequest(int[] promptIds, SamplingParams sampling, KvCompressionSpec compression, String decidedBy) {
        this(promptIds, sampling, compression, decidedBy, null, false);
    }

    /** A request served as usual, not inspected. */
    public GenerationRequest(int[] promptIds, SamplingParams sampling, KvCompressionSpec compression, String decidedBy,
            AutoCompression auto) {
        this(promptIds, sampling, compression, decidedBy, auto, false);
    }

    public GenerationRequest {
        promptIds = promptIds.clone();
        Objects.requireNonNull(sampling, "sampling");
        Objects.requireNonNull(compression, "compression");
        Objects.requireNonNull(decidedBy, "decidedBy");
    }

    GenerationRequest withSampling(SamplingParams other) {
        return new GenerationRequest(promptIds, other, compression, decidedBy, auto, inspect);
    }
}

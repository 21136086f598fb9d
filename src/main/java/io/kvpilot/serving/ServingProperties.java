package io.kvpilot.serving;

import jakarta.validation.Valid;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Everything serving reads from configuration ({@code kvpilot.*}), in one validated record. The per-request deadline
 * is Resilience4j's time limiter {@code generation} ({@code resilience4j.timelimiter.instances.generation}).
 *
 * @param model which checkpoint to serve
 * @param kv KV budget and the static compression {@code "auto"} maps to until the policy controller exists
 * @param scheduler batching and queue limits
 */
@Validated
@ConfigurationProperties("kvpilot")
public record ServingProperties(
        @Valid @NotNull @DefaultValue Model model,
        @Valid @NotNull @DefaultValue Kv kv,
        @Valid @NotNull @DefaultValue Batching scheduler) {

    /**
     * @param path a Hugging Face checkpoint directory ({@code KVPILOT_MODEL_PATH})
     * @param threads PyTorch intra-op threads for the engine; 0 keeps the engine's default
     */
    public record Model(@NotNull @DefaultValue("models/kvpilot-mini") Path path, @Min(0) @DefaultValue("0") int threads) {}

    /**
     * @param budgetBytes KV byte budget for admission; 0 derives it from memory
     * @param budgetMemoryFraction share of the physical memory free at start-up that a derived budget takes
     * @param autoMethod method {@code "kv_compression": "auto"} (and an absent field) means for now
     * @param autoRatio ratio for {@code auto}
     * @param autoBits bits for {@code auto}
     * @param decodeCompressionInterval decode steps between two boundings of an evicting method's cache to
     *     {@code (1 - ratio)} of the tokens seen; 0 compresses after prefill only (the cache then grows by every
     *     generated token)
     */
    public record Kv(
            @Min(0) @DefaultValue("0") long budgetBytes,
            @DecimalMin("0.01") @DecimalMax("0.95") @DefaultValue("0.3") double budgetMemoryFraction,
            @NotBlank @DefaultValue("none") String autoMethod,
            @DecimalMin("0.0") @DecimalMax("0.99") @DefaultValue("0.0") double autoRatio,
            @Min(2) @DefaultValue("16") int autoBits,
            @Min(0) @DefaultValue("32") int decodeCompressionInterval) {}

    /**
     * @param maxRunningSequences sequences decoded together per step
     * @param maxBatchedTokens tokens per step (prefill plus one per decoding sequence)
     * @param maxWaiting requests allowed to wait for KV room before 429
     * @param defaultMaxTokens {@code max_tokens} when a request gives none
     * @param retryAfter the {@code Retry-After} of 429 answers
     * @param idlePoll engine-thread sleep when idle
     * @param drainGrace how long shutdown lets admitted requests finish (also the web server's shutdown phase timeout)
     * @param streamKeepAlive how often a stream waiting for its first token gets an SSE comment
     * @param prefillChunkTokens most prompt tokens one step feeds; a longer prompt is prefilled over several steps
     *     while running sequences keep decoding; 0 prefills each prompt whole
     */
    public record Batching(
            @Min(1) @DefaultValue("16") int maxRunningSequences,
            @Min(1) @DefaultValue("64") int maxBatchedTokens,
            @Min(0) @DefaultValue("64") int maxWaiting,
            @Min(1) @DefaultValue("256") int defaultMaxTokens,
            @NotNull @DefaultValue("1s") Duration retryAfter,
            @NotNull @DefaultValue("20ms") Duration idlePoll,
            @NotNull @DefaultValue("30s") Duration drainGrace,
            @NotNull @DefaultValue("10s") Duration streamKeepAlive,
            @Min(0) @DefaultValue("256") int prefillChunkTokens) {}
}

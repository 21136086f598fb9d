package io.kvpilot.engine;

import io.kvpilot.kvcache.KvCompressors;
import java.util.Objects;

/**
 * How a checkpoint is run. One record, validated.
 *
 * @param threads PyTorch intra-op threads for prefill passes; 0 picks the measured default ({@link #DEFAULT_THREADS})
 * @param maxBatchSize most sequences one decode step takes (larger batches are run in several passes)
 * @param kvBudgetBytes the KV pool's budget; {@code Long.MAX_VALUE} for none
 * @param prefillChunkTokens most prompt tokens one prefill forward pass takes (bounds the attention scores' memory)
 * @param compressors finds the compression hook for a sequence's {@code KvCompressionSpec}
 * @param decodeThreads threads for decode's weight products; 0 picks {@link #DEFAULT_THREADS}, except for models under
 *     {@link #SMALL_MODEL_PARAMETERS} whose products run on libtorch (no Vector API): their decode is per-op
 *     overhead, which a second libtorch thread only adds synchronisation to. On the packed kernel a second lane paid
 *     at every size (default model, batch 16: 880 vs 700 tokens/s) — measured, docs/benchmarks.md.
 * @param javaForwardPass run decode steps and short prompts on KVPilot's Java forward pass (engine.vector: the Vector
 *     API kernels and the pass built on them) when the JVM has {@code jdk.incubator.vector}; false keeps every pass
 *     on libtorch. Defaults to true unless the system property {@value #JAVA_FORWARD_PASS_PROPERTY} is {@code false}
 *     (the A/B switch of docs/benchmarks.md).
 */
public record EngineOptions(
        int threads,
        int maxBatchSize,
        long kvBudgetBytes,
        int prefillChunkTokens,
        KvCompressors compressors,
        int decodeThreads,
        boolean javaForwardPass) {

    /** Intra-op threads by default; see docs/benchmarks.md for the 1-vs-2 measurement. */
    public static final int DEFAULT_THREADS = 2;

    /** Below this many parameters decode runs on one intra-op thread by default. */
    public static final long SMALL_MODEL_PARAMETERS = 50_000_000L;

    public EngineOptions {
        if (threads < 0 || decodeThreads < 0 || maxBatchSize < 1 || kvBudgetBytes < 1 || prefillChunkTokens < 1) {
            throw new IllegalArgumentException("bad engine options: threads " + threads + ", maxBatchSize "
                    + maxBatchSize + ", kvBudgetBytes " + kvBudgetBytes + ", prefillChunkTokens " + prefillChunkTokens);
        }
        Objects.requireNonNull(compressors, "compressors");
    }

    /** The system property that turns the Java forward pass off in {@link #defaults()}, for A/B benchmarks. */
    public static final String JAVA_FORWARD_PASS_PROPERTY = "kvpilot.engine.java-forward-pass";

    public static EngineOptions defaults() {
        return new EngineOptions(0, 64, Long.MAX_VALUE, 256, KvCompressors.NONE, 0,
                !"false".equals(System.getProperty(JAVA_FORWARD_PASS_PROPERTY)));
    }

    /** The same intra-op thread count for prefill and decode. */
    public EngineOptions withThreads(int n) {
        return new EngineOptions(n, maxBatchSize, kvBudgetBytes, prefillChunkTokens, compressors, n, javaForwardPass);
    }

    public EngineOptions withDecodeThreads(int n) {
        return new EngineOptions(threads, maxBatchSize, kvBudgetBytes, prefillChunkTokens,
                compressors, n, javaForwardPass);
    }

    public EngineOptions withMaxBatchSize(int n) {
        return new EngineOptions(threads, n, kvBudgetBytes, prefillChunkTokens,
                compressors, decodeThreads, javaForwardPass);
    }

    public EngineOptions withKvBudgetBytes(long bytes) {
        return new EngineOptions(threads, maxBatchSize, bytes, prefillChunkTokens,
                compressors, decodeThreads, javaForwardPass);
    }

    public EngineOptions withCompressors(KvCompressors c) {
        return new EngineOptions(threads, maxBatchSize, kvBudgetBytes, prefillChunkTokens,
                c, decodeThreads, javaForwardPass);
    }

    public EngineOptions withPrefillChunkTokens(int tokens) {
        return new EngineOptions(threads, maxBatchSize, kvBudgetBytes, tokens,
                compressors, decodeThreads, javaForwardPass);
    }

    public EngineOptions withJavaForwardPass(boolean on) {
        return new EngineOptions(threads, maxBatchSize, kvBudgetBytes, prefillChunkTokens,
                compressors, decodeThreads, on);
    }

    public int effectiveThreads() {
        return threads == 0 ? DEFAULT_THREADS : threads;
    }

    public int effectiveDecodeThreads(long parameterCount, boolean packedKernel) {
        if (decodeThreads > 0) {
            return decodeThreads;
        }
        return parameterCount < SMALL_MODEL_PARAMETERS && !packedKernel ? 1 : effectiveThreads();
    }
}

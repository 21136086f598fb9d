package io.kvpilot.engine;

import io.kvpilot.kvcache.KvCompressors;
import java.util.Objects;

/**
 * How a checkpoint is run. One record, validated.
 *
 * @param threads PyTorch intra-op threads; 0 picks the measured default ({@link #DEFAULT_THREADS})
 * @param maxBatchSize most sequences one decode step takes (larger batches are run in several passes)
 * @param kvBudgetBytes the KV pool's budget; {@code Long.MAX_VALUE} for none
 * @param prefillChunkTokens most prompt tokens one prefill forward pass takes (bounds the attention scores' memory)
 * @param compressors finds the compression hook for a sequence's {@code KvCompressionSpec}
 */
public record EngineOptions(
        int threads, int maxBatchSize, long kvBudgetBytes, int prefillChunkTokens, KvCompressors compressors) {

    /** Intra-op threads by default; see docs/benchmarks.md for the 1-vs-2 measurement. */
    public static final int DEFAULT_THREADS = 2;

    public EngineOptions {
        if (threads < 0 || maxBatchSize < 1 || kvBudgetBytes < 1 || prefillChunkTokens < 1) {
            throw new IllegalArgumentException("bad engine options: threads " + threads + ", maxBatchSize "
                    + maxBatchSize + ", kvBudgetBytes " + kvBudgetBytes + ", prefillChunkTokens " + prefillChunkTokens);
        }
        Objects.requireNonNull(compressors, "compressors");
    }

    public static EngineOptions defaults() {
        return new EngineOptions(0, 64, Long.MAX_VALUE, 256, KvCompressors.NONE);
    }

    public EngineOptions withThreads(int n) {
        return new EngineOptions(n, maxBatchSize, kvBudgetBytes, prefillChunkTokens, compressors);
    }

    public EngineOptions withKvBudgetBytes(long bytes) {
        return new EngineOptions(threads, maxBatchSize, bytes, prefillChunkTokens, compressors);
    }

    public EngineOptions withCompressors(KvCompressors c) {
        return new EngineOptions(threads, maxBatchSize, kvBudgetBytes, prefillChunkTokens, c);
    }

    public EngineOptions withPrefillChunkTokens(int tokens) {
        return new EngineOptions(threads, maxBatchSize, kvBudgetBytes, tokens, compressors);
    }

    int effectiveThreads() {
        return threads == 0 ? DEFAULT_THREADS : threads;
    }
}

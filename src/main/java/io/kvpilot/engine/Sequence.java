package io.kvpilot.engine;

import io.kvpilot.kvcache.KeptPositions;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.Arrays;
import java.util.Objects;

/**
 * One request's generation state: its prompt, the tokens generated so far, the text released to the client so far
 * (stop strings held back until they can no longer match), how it finished, and the KV bytes it holds. Written only
 * by the engine thread; {@link #requestCancel()} may be called from any thread and takes effect at the next step.
 */
public class Sequence {

    private final String id;
    private final int[] promptIds;
    private final SamplingParams sampling;
    private final KvCompressionSpec compression;

    private int[] generated = new int[32];
    private int generatedCount;
    private final StringBuilder pendingText = new StringBuilder();
    private FinishReason finishReason;
    private volatile boolean cancelRequested;
    private long kvBytes;
    private long kvBytesUncompressed;
    private long kvPeakBytes;
    private long kvPeakAfterPrefillBytes = -1;
    private double kvRatioApplied = Double.NaN;
    private boolean tracesKeptPositions;
    private KeptPositions keptPositions;

    public Sequence(String id, int[] promptIds, SamplingParams sampling, KvCompressionSpec compression) {
        this.id = Objects.requireNonNull(id, "id");
        this.promptIds = promptIds.clone();
        this.sampling = Objects.requireNonNull(sampling, "sampling");
        this.compression = Objects.requireNonNull(compression, "compression");
    }

    public String id() {
        return id;
    }

    public int[] promptIds() {
        return promptIds.clone();
    }

    public int promptLength() {
        return promptIds.length;
    }

    public SamplingParams sampling() {
        return sampling;
    }

    public KvCompressionSpec compression() {
        return compression;
    }

    /** Prompt plus generated tokens: the position the next token is written at. */
    public int length() {
        return promptIds.length + generatedCount;
    }

    public int generatedCount() {
        return generatedCount;
    }

    public int[] generatedIds() {
        return Arrays.copyOf(generated, generatedCount);
    }

    /** The most recent token (the next decode step's input). */
    public int lastToken() {
        return generatedCount > 0 ? generated[generatedCount - 1] : promptIds[promptIds.length - 1];
    }

    /** Called by the engine with each sampled token. */
    public void appendToken(int token) {
        if (generatedCount == generated.length) {
            generated = Arrays.copyOf(generated, generated.length * 2);
        }
        generated[generatedCount++] = token;
    }

    /** Called by the engine with text that is final (no stop string can still start in it). */
    public void appendText(String text) {
        pendingText.append(text);
    }

    /** Text released since the last call; empty when none. */
    public String takeText() {
        if (pendingText.isEmpty()) {
            return "";
        }
        String text = pendingText.toString();
        pendingText.setLength(0);
        return text;
    }

    public boolean isFinished() {
        return finishReason != null;
    }

    public FinishReason finishReason() {
        return finishReason;
    }

    /** Marks the sequence finished; the first reason wins. */
    public void finish(FinishReason reason) {
        if (finishReason == null) {
            finishReason = Objects.requireNonNull(reason);
        }
    }

    /** Asks the scheduler to stop this sequence and free its cache at the next step boundary. Any thread. */
    public void requestCancel() {
        cancelRequested = true;
    }

    public boolean isCancelRequested() {
        return cancelRequested;
    }

    /** KV bytes this sequence's cache really holds now (measured from the tensors it keeps). */
    public long kvBytes() {
        return kvBytes;
    }

    /** Bytes the same tokens would take uncompressed at the model's dtype. */
    public long kvBytesUncompressed() {
        return kvBytesUncompressed;
    }

    /**
     * The most KV bytes this sequence's cache held at once over its life, the copies made while compacting included
     * (what admission has to reserve); known once its cache is freed.
     */
    public long kvPeakBytes() {
        return kvPeakBytes;
    }

    /**
     * The most KV bytes the cache held at once after its prompt was prefilled and compressed (what its reservation
     * drops to after the first token); -1 if it never finished prefill. Known once its cache is freed.
     */
    public long kvPeakAfterPrefillBytes() {
        return kvPeakAfterPrefillBytes;
    }

    /** Called by the engine when it frees the cache, with the peaks its pool account measured. */
    public void recordKvPeak(long bytes, long afterPrefill) {
        this.kvPeakBytes = Math.max(kvPeakBytes, bytes);
        this.kvPeakAfterPrefillBytes = Math.max(kvPeakAfterPrefillBytes, afterPrefill);
    }

    /** Called by the engine after each step with what the cache holds. */
    public void recordKvBytes(long bytes, long bytesUncompressed) {
        this.kvBytes = bytes;
        this.kvBytesUncompressed = bytesUncompressed;
    }

    /**
     * The fraction of its cache entries compression had removed when the cache was freed: 1 − kept / positions fed,
     * kept being the slots per head averaged over layers (the longest head's for head-wise budgets, so a lower bound
     * there). Differs from the requested ratio by the tokens generated since the last compaction (held until the next
     * one) and for methods that remove no entries (quantization alone, low-rank keys: 0). NaN while the cache is held
     * or when it was never made.
     */
    public double kvRatioApplied() {
        return kvRatioApplied;
    }

    /** Called by the engine when it frees the cache, with the entries kept per layer and the positions seen. */
    public void recordKvEntries(long keptPerLayer, long positions) {
        this.kvRatioApplied = positions > 0 ? Math.max(0.0, 1.0 - (double) keptPerLayer / positions) : Double.NaN;
    }

    /**
     * Asks the engine to record which prompt positions the cache keeps per layer and KV head when it is compressed
     * after prefill (an inspection; it costs a copy of the kept indices). Call before the sequence is prefilled.
     */
    public void traceKeptPositions() {
        this.tracesKeptPositions = true;
    }

    public boolean tracesKeptPositions() {
        return tracesKeptPositions;
    }

    /** Called by the engine after compressing a traced sequence's prompt cache. */
    public void recordKeptPositions(KeptPositions kept) {
        this.keptPositions = kept;
    }

    /**
     * The prompt positions kept after prefill when {@link #traceKeptPositions} was asked for and the engine records
     * them; else null. Bounded decoding may evict further while generating; this is what the prompt's compression
     * kept.
     */
    public KeptPositions keptPositions() {
        return keptPositions;
    }
}

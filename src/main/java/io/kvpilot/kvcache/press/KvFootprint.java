package io.kvpilot.kvcache.press;

import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.KvLayout;

/**
 * The KV bytes one sequence will hold, predicted from counts alone before it runs: what admission reserves.
 *
 * <p>The prediction replays, in arithmetic, every allocation the engine makes for the sequence through its pool
 * account ({@code KvBlockPool#account}): the dense prompt cache ({@code prompt + 1} tokens rounded up to 32-token
 * blocks), the compaction after prefill (new tensors allocated before the old ones are freed), the conversion to the
 * storage format (int8 codes with one fp32 scale per token and head, in capacity buffers; KIVI's packed codes, fp16
 * scales and zero points per group in capacity buffers of whole groups, and its fixed fp16 window of residual + group
 * tokens; low-rank key coefficients and fp32 values in capacity buffers, plus their basis), the growth of a dense store one block at a time while
 * decoding and of int8/KIVI/low-rank buffers by {@code QuantizedStore#grownCapacity}, and bounded decoding every
 * {@link KvMethod#decodeInterval()} steps.
 * So {@link #peakBytes} is the most the sequence holds at any instant (compaction copies included) and
 * {@link #endBytes} what it holds after its last token ({@code usage.kv_cache.bytes}) — both for a sequence that
 * generates all of {@code max_tokens}; one that stops earlier holds less.
 *
 * <p>Exact ({@link #exact}) for every method whose heads keep equal counts. AdaKV's head-wise budgets give heads
 * different counts that only the scores decide, and a ragged store is as long as its longest head: for those the
 * figures are an upper bound (the longest head taking all it can).
 *
 * <p>{@link #peakAfterPrefillBytes} is the most held once the prompt is prefilled and compressed: the dense prompt
 * cache and the compaction copies exist only during prefill, so a compressed sequence can give back the difference as
 * soon as its first token is out (what the scheduler does), and compression frees room for the next request within
 * one step instead of only when the sequence ends.
 *
 * @param peakBytes the most bytes held at once over the sequence's life
 * @param endBytes bytes held after the last generated token
 * @param exact whether the engine holds exactly these bytes (else they bound it from above)
 * @param peakAfterPrefillBytes the most bytes held at once after prefill (and its compression) is over
 */
public record KvFootprint(long peakBytes, long endBytes, boolean exact, long peakAfterPrefillBytes) {

    /** A footprint without a separate figure after prefill: the whole life's peak stands for it (an upper bound). */
    public KvFootprint(long peakBytes, long endBytes, boolean exact) {
        this(peakBytes, endBytes, exact, peakBytes);
    }

    /**
     * @param layout the model's KV shape
     * @param compressor the sequence's method ({@link KvMethod}; any other compressor is taken to store the plain
     *     dense cache, as {@code none} does)
     * @param promptTokens tokens of the prompt
     * @param generatedTokens tokens it generates ({@code max_tokens}), at least 1
     */
    public static KvFootprint predict(KvLayout layout, KvCompressor compressor, int promptTokens, int generatedTokens) {
        if (promptTokens < 1 || generatedTokens < 1) {
            throw new IllegalArgumentException("need at least one prompt and one generated token, got "
                    + promptTokens + " and " + generatedTokens);
        }
        KvMethod method = compressor instanceof KvMethod m ? m : null;
        return new FootprintReplay(layout, method).run(promptTokens, generatedTokens);
    }

    /** |predicted − held| / held: the relative error {@code kvpilot_predictor_abs_error{target="kv_bytes"}} records. */
    public static double relativeError(long predicted, long held) {
        return held <= 0 ? (predicted == 0 ? 0.0 : 1.0) : Math.abs(predicted - held) / (double) held;
    }
}

package io.kvpilot.engine;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvFootprint;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the scheduler needs from a loaded model. There is no decoding phase nor prefill phase for the caller: it
 * prefills new sequences and then, step after step, decodes one token for every running sequence in one batched
 * forward pass. Every method is called from the scheduler's single engine thread, never from a Netty event loop.
 *
 * <p>A sequence owns its KV cache from {@link #prefill} until {@link #release}; {@code release} is idempotent and
 * returns every byte to the pool, whether the sequence finished, was cancelled or failed.
 */
public interface GenerationEngine extends AutoCloseable {

    ModelInfo modelInfo();

    TextCodec textCodec();

    /** A new sequence holding no KV yet. {@code promptIds} must fit the context window with at least one token left. */
    Sequence newSequence(String id, int[] promptIds, SamplingParams sampling, KvCompressionSpec compression);

    /**
     * Runs the prompts of {@code sequences} (batched where possible), compresses each cache by its spec, and appends
     * each sequence's first generated token. A sequence may finish here (EOS, stop string, {@code max_tokens == 1}).
     */
    void prefill(List<Sequence> sequences);

    /** Appends one token to every unfinished sequence of {@code batch}, in one forward pass. */
    void decode(List<Sequence> batch);

    /**
     * One scheduler step: {@link #prefill} of {@code admitted} and {@link #decode} of {@code running}, with the same
     * results. An engine that can run both in one forward pass (one read of the weights instead of two) does.
     */
    default void step(List<Sequence> admitted, List<Sequence> running) {
        prefill(admitted);
        decode(running);
    }

    /**
     * One scheduler step with chunked prefill: feeds the prompts of {@code prefilling}, in order, {@code prefillTokens}
     * prompt tokens in all (a prompt may overrun by what its compressor must see in its last piece), and decodes one
     * token for every sequence of {@code running}. A sequence whose prompt is not all in yet holds its cache and
     * generates nothing; the caller passes it in {@code prefilling} again at the next step, never in {@code running}.
     * The step that feeds a prompt's last token compresses its cache, over the whole prompt, and appends its first
     * token, as {@link #prefill} does. An engine that cannot split a prompt prefills it whole (this default).
     *
     * @param prefillTokens at least 1
     */
    default void step(List<Sequence> prefilling, List<Sequence> running, int prefillTokens) {
        step(prefilling, running);
    }

    /**
     * The KV bytes a sequence with {@code spec} will hold, at its peak and at its end, if it generates all of
     * {@code maxTokens} after a prompt of {@code promptTokens}: what admission reserves. Throws
     * {@link IllegalArgumentException} for a spec the engine cannot serve.
     */
    KvFootprint predictKv(KvCompressionSpec spec, int promptTokens, int maxTokens);

    /**
     * Refuses, with {@link IllegalArgumentException}, a setting this model cannot serve although the method can store
     * it (eviction on a sliding-window model), so that a request is refused before admission rather than at it.
     * {@link #predictKv} does not check this: the controller prices every candidate with it.
     */
    default void checkServable(KvCompressionSpec spec) {}

    /**
     * Compresses a running sequence's cache further, between steps, to {@code target} taken over every position it has
     * fed (as if it had been admitted with it), and returns the bytes freed; the sequence goes on generating from the
     * smaller cache. Only query-agnostic eviction applies to a live cache (there is no prompt-window attention left to
     * score with); bits only go down. An engine that cannot compress a live cache frees nothing.
     *
     * @throws IllegalArgumentException if {@code target} is a method that needs the prompt's attention
     */
    default long recompress(Sequence sequence, KvCompressionSpec target) {
        return 0;
    }

    /**
     * The most a running sequence holds from its recompression to {@code target} after generating
     * {@code generatedTokens} to its last token: {@link #recompress} compresses every position it has fed (the prompt
     * and all but the last generated token) with the code that compresses a prompt after its prefill, so this is the
     * footprint after prefill of that many positions and the tokens still to come. An engine whose live caches keep
     * capacity a fresh prompt's would not have may add it.
     */
    default long predictHeldAfterRecompression(KvCompressionSpec target, int promptTokens, int generatedTokens,
            int maxTokens) {
        int fed = promptTokens + Math.max(0, generatedTokens - 1);
        return predictKv(target, fed, Math.max(1, maxTokens - generatedTokens + 1)).peakAfterPrefillBytes();
    }

    /**
     * The most the sequence's cache holds while {@link #recompress} converts it to {@code target}: what is held now
     * plus the copies made of one layer at a time (a compaction and a conversion, neither larger than the layer they
     * come from). The scheduler reserves it for the moment of the conversion. An engine that cannot compress a live
     * cache answers what is held now.
     */
    default long recompressionPeakBytes(Sequence sequence, KvCompressionSpec target) {
        return sequence.kvBytes();
    }

    /**
     * What the last {@link #step} (or lone {@link #prefill} or {@link #decode}) did: passes, tokens, attention reads
     * and the forward path. Read on the engine thread right after the call; the engine may overwrite the same object
     * at the next one. Engines that do not report answer {@link EngineStepStats#UNREPORTED}.
     */
    default EngineStepStats lastStepStats() {
        return EngineStepStats.UNREPORTED;
    }

    /**
     * Runs the engine the way serving will, before the service reports ready: prompts of several lengths joining a
     * growing batch (up to 6, within {@code maxSequences}), then decoding together, so the JIT has compiled the
     * engine's paths for more than one row and one entry (measured: the first 128-token pass on the Java forward pass
     * took 400 ms, the fifth 33 ms). Every sequence it makes is released before it returns.
     */
    default void warmUp(int maxSequences) {
        int[] text = textCodec().encode(
                "Once upon a time, a little fox found a red ball in the tall grass and ran home to show it to his "
                        + "mother, who smiled and told him a story about the moon and the stars.", true);
        if (text.length == 0) {
            text = new int[] {0};
        }
        int room = Math.max(1, modelInfo().contextLength() - 40);
        List<Sequence> running = new ArrayList<>();
        try {
            for (int round = 0; round < Math.min(6, maxSequences); round++) {
                int length = Math.max(1, Math.min(room, Math.min(text.length, 1 + round * 7)));
                Sequence s = newSequence("warmup-" + round, Arrays.copyOf(text, length),
                        new SamplingParams(0.0, 1.0, 0, 0L, 24, List.of(), true), KvCompressionSpec.NONE);
                step(List.of(s), running);
                running.add(s);
                for (int i = 0; i < 3; i++) {
                    step(List.of(), running);
                }
            }
            while (running.stream().anyMatch(s -> !s.isFinished())) {
                step(List.of(), running);
            }
        } finally {
            running.forEach(this::release);
        }
    }

    /** Frees the sequence's KV cache (idempotent). */
    void release(Sequence sequence);

    /** KV bytes held by all live sequences now. */
    long kvBytesInUse();

    @Override
    void close();
}

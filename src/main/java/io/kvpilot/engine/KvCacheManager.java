package io.kvpilot.engine;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvFootprint;
import java.util.function.Supplier;

/**
 * The KV cache as serving sees it: the one narrow interface between admission and the engine's pool, in the spirit of
 * vLLM v1's KVCacheManager. Admission reserves a sequence's predicted peak ({@link #predict}, exact) against the
 * budget before the engine opens its cache; the engine allocates within the reservations, so its pool, which enforces
 * the same budget as a hard limit, never refuses an allocation; a sequence's cache is freed when it ends and its
 * reservation given back. Reservations and frees on the engine thread only; the byte counts may be read anywhere.
 */
public interface KvCacheManager {

    /** The budget reservations are held within, in bytes. */
    long budgetBytes();

    /** Bytes reserved by admitted sequences (their predicted peaks) now. */
    long reservedBytes();

    /** Bytes the live sequences' caches hold now, measured. */
    long bytesInUse();

    /**
     * The bytes a sequence with {@code spec} will hold, at its peak and at its end, if it generates all of
     * {@code maxTokens} after a prompt of {@code promptTokens}: what admission reserves. Throws
     * {@link IllegalArgumentException} for a spec the engine cannot serve.
     */
    KvFootprint predict(KvCompressionSpec spec, int promptTokens, int maxTokens);

    /** Reserves {@code bytes} for a sequence about to be admitted; false, reserving nothing, when they do not fit. */
    boolean tryReserve(long bytes);

    /**
     * A sequence's plan changed (another compression): its reservation moves from {@code oldBytes} to
     * {@code newBytes}. A smaller one always succeeds; a larger one only if the difference fits, else nothing changes.
     */
    boolean tryReplan(long oldBytes, long newBytes);

    /** Gives back {@code bytes} of reservation: the sequence ended, or its peak to come is lower than reserved. */
    void release(long bytes);

    /** Frees the sequence's cache (idempotent); its reservation is given back with {@link #release}. */
    void free(Sequence sequence);

    /**
     * Reservations within {@code budgetBytes} over the engine {@code engine} supplies, which may be loaded after this
     * is made (it is read at each call that needs it: predict, bytes in use, free).
     */
    static KvCacheManager reserving(long budgetBytes, Supplier<GenerationEngine> engine) {
        return new ReservingKvCacheManager(budgetBytes, engine);
    }
}
